"""Command line: a PACS demo. Orthanc with sample studies as DICOM, the app on it over DICOMweb.

    python -m apps.radiotherapy.pacs_demo [--host 127.0.0.1] [--port 8000] [--cases 3] [--models segmentation]
    (or: make pacs-demo)

Writes the phantom studies as DICOM (CT + PET, the first ones' labels as SEG) under
``--workdir``, starts Orthanc on a free loopback port with a generated user and password,
uploads the studies, starts ``monailabel start_server --studies http://127.0.0.1:<port>/dicom-web``
with those credentials, and prints the OHIF URL. Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from apps.radiotherapy.launch import APP_DIR, REPO_ROOT, start_server
from apps.radiotherapy.pacs import start_orthanc
from lib.dicom.phantoms import write_cases


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="only 127.0.0.1 is supported (Orthanc is loopback-only)")
    parser.add_argument("--port", type=int, default=8000, help="the MONAI Label server's port")
    parser.add_argument("--cases", type=int, default=3, help="phantom studies to load into Orthanc")
    parser.add_argument("--labelled", type=int, default=1, help="the first N studies get their label as a SEG")
    parser.add_argument("--models", default="", help="--conf models for the server (default: every model)")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build" / "pacs-demo")
    args = parser.parse_args(argv)

    cases = write_cases(args.workdir / "dicom", args.cases, pet=True, labelled=args.labelled)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_orthanc(args.workdir / "orthanc") as orthanc:
        for case in cases:
            orthanc.upload(case.files)
        print(f"Orthanc: {orthanc.url} (user {orthanc.username}; config {orthanc.root / 'orthanc.json'})", flush=True)
        env = {
            "MONAI_LABEL_DICOMWEB_USERNAME": orthanc.username,
            "MONAI_LABEL_DICOMWEB_PASSWORD": orthanc.password,
            "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(args.workdir / "cache"),
        }
        conf = {"models": args.models} if args.models else {}
        print("starting the MONAI Label server ...", flush=True)
        with start_server(APP_DIR, orthanc.dicomweb_url, conf, args.workdir / "server.log", port=args.port,
                          env_extra=env) as server:
            print(f"MONAI Label: {server.url} (log {server.log_path})")
            print(f"OHIF: {server.url}/ohif/")
            print(f"first study: {server.url}/ohif/monai-label?StudyInstanceUIDs={cases[0].study_uid}")
            print(f"in OHIF's MONAI Label panel set the server to {server.url}/ ; Ctrl-C stops both", flush=True)
            try:
                while not stop.wait(1.0):
                    if server.process.poll() is not None:
                        print(f"the server exited:\n{server.log_tail()}", file=sys.stderr)
                        break
            except KeyboardInterrupt:
                pass
            print("stopping ...", flush=True)


if __name__ == "__main__":
    main()
