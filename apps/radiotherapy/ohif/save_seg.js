// Save the MONAI Label panel's segmentation as the final label: a DICOM SEG in the PACS.
//
// MONAI Label 0.8.5's OHIF v3 panel never calls save_label (MONAI Label issue #1805). The app
// serves this script with the bundled OHIF (apps/radiotherapy/ohif.py). It adds one button,
// "Save SEG", that sends the labelmap the panel draws into (segmentation '1') to the app's
// own PUT /datastore/label?image=<SeriesInstanceUID>&tag=final as label.bin: uint8, one value
// per voxel in the viewport volume's order (column fastest, then row, then slice ascending
// along the normal: the order of the app's NIfTI of the series), with label_info naming each
// segment index. The app writes the SEG (apps/radiotherapy/dicomweb.py). The outcome is
// shown as a notification and kept in window.radiotherapySave for tests.
(function () {
  'use strict';
  const SEGMENTATION_ID = '1';

  function activeDisplaySet(services) {
    const state = services.viewportGridService.getState();
    const viewport = state.viewports.get(state.activeViewportId);
    if (!viewport || !viewport.displaySetInstanceUIDs || !viewport.displaySetInstanceUIDs.length) {
      throw new Error('no series in the active viewport');
    }
    return services.displaySetService.getDisplaySetByUID(viewport.displaySetInstanceUIDs[0]);
  }

  function labelmap(services) {
    const volume = services.segmentationService.getLabelmapVolume(SEGMENTATION_ID);
    if (!volume) {
      throw new Error('no segmentation yet: run a model in the MONAI Label panel first');
    }
    const data = volume.voxelManager.getCompleteScalarDataArray();
    const segmentation = services.segmentationService.getSegmentation(SEGMENTATION_ID);
    const labelInfo = Object.values(segmentation.segments || {})
      .filter((s) => s && s.label)
      .map((s) => ({ name: s.label, idx: s.segmentIndex }));
    return { data: new Uint8Array(data), labelInfo: labelInfo };
  }

  async function save() {
    const services = window.services;
    const notify = (message, type) =>
      services.uiNotificationService.show({ title: 'Save SEG', message: message, type: type, duration: 6000 });
    window.radiotherapySave = { state: 'saving' };
    try {
      const displaySet = activeDisplaySet(services);
      const { data, labelInfo } = labelmap(services);
      const form = new FormData();
      form.append('params', JSON.stringify({ label_info: labelInfo, client: 'ohif' }));
      form.append('label', new Blob([data], { type: 'application/octet-stream' }), 'label.bin');
      const url = new URL('/datastore/label', window.location.origin);
      url.searchParams.append('image', displaySet.SeriesInstanceUID);
      url.searchParams.append('tag', 'final');
      const response = await fetch(url.toString(), { method: 'PUT', body: form });
      const body = await response.text();
      window.radiotherapySave = { state: response.ok ? 'saved' : 'failed', status: response.status, body: body };
      notify(response.ok ? 'Saved as DICOM SEG in the PACS' : 'Save failed: ' + body, response.ok ? 'success' : 'error');
    } catch (error) {
      window.radiotherapySave = { state: 'failed', status: 0, body: String(error) };
      notify('Save failed: ' + error, 'error');
    }
  }

  function addButton() {
    if (document.getElementById('radiotherapy-save-seg')) {
      return;
    }
    const button = document.createElement('button');
    button.id = 'radiotherapy-save-seg';
    button.textContent = 'Save SEG';
    button.title = 'Save the segmentation as the final label (DICOM SEG in the PACS)';
    button.style.cssText =
      'position:fixed;right:12px;bottom:12px;z-index:10000;padding:6px 14px;border-radius:4px;' +
      'border:0;background:#5acce6;color:#000;font-weight:bold;cursor:pointer';
    button.addEventListener('click', save);
    document.body.appendChild(button);
  }

  window.radiotherapySaveSeg = save;
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', addButton);
  } else {
    addButton();
  }
})();
