// The queue pages work without script; this only saves clicks: a filter applies when it changes, a
// status when it is chosen, the upload form shows the fields of its format, and the bundled examples
// can be pasted into it.
import { api, errorText } from "./common.js";

const $ = (id) => document.getElementById(id);

const filters = $("filters");
if (filters) {
  for (const id of ["filter-readiness", "filter-finding", "filter-status"]) {
    $(id).addEventListener("change", () => filters.requestSubmit());
  }
}
document.querySelectorAll(".status-form select").forEach((select) => {
  select.addEventListener("change", () => select.form.requestSubmit());
});

const upload = $("upload-form");
if (upload) {
  const format = $("upload-format");
  const fit = () => {
    $("upload-mapping-field").hidden = format.value !== "mar";
    document.querySelectorAll(".import-only").forEach((node) => { node.hidden = format.value === "json"; });
  };
  format.addEventListener("change", fit);
  fit();
  upload.addEventListener("submit", () => {
    $("upload-button").disabled = true;
    $("upload-status").textContent = "Importing and coding…";
  });
  $("load-examples").addEventListener("click", async () => {
    const { status, data } = await api("/v1/examples");
    if (status !== 200) {
      $("upload-status").textContent = `Error: ${errorText(data)}`;
      return;
    }
    const lines = [];
    for (const { name } of data.filter((example) => example.format === "json")) {
      const answer = await api(`/v1/examples/${encodeURIComponent(name)}`);
      if (answer.status === 200) lines.push(JSON.stringify(answer.data));
    }
    format.value = "json";
    fit();
    $("upload-text").value = lines.join("\n");
    $("upload-status").textContent = `Pasted ${lines.length} examples. Press Make the queue.`;
  });
}
