// A queue's encounter: its stored result (and encounter, when the queue keeps them) in the result view;
// another policy re-codes it through the API and shows what changes.
import { api, errorText, isError, restoreKey } from "./common.js";
import { currentResult, showError, showResult, startAudit } from "./result.js";

const $ = (id) => document.getElementById(id);
const data = JSON.parse($("queue-data").textContent);
const queued = data.result;

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", bad);
}

restoreKey();
startAudit();
if (isError(queued)) showError(queued);
else {
  showResult(data.encounter, queued);
  $("no-encounter").hidden = !data.synthetic;
}
$("policy").addEventListener("change", async () => {
  const policy = $("policy").value;
  if (data.synthetic || isError(queued)) return;
  if (!policy) {
    showResult(data.encounter, queued, currentResult());
    setStatus("");
    return;
  }
  setStatus("Coding…");
  const { status, data: result } = await api("/v1/code", { body: JSON.stringify(data.encounter), query: { policy } });
  if (status !== 200) {
    setStatus(`Error: ${errorText(result)}`, true);
    return;
  }
  showResult(data.encounter, result, currentResult());
  setStatus(`Re-coded under ${policy}: ${result.lines.length} lines, ${result.findings.length} findings.`);
});
