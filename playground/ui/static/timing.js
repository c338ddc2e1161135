// "Copy" on the per-chunk table: the rows as tab-separated text, which pastes into a
// spreadsheet as columns. One listener for the page: the table is redrawn, the page is not.
document.addEventListener("click", async (event) => {
  const button = event.target.closest && event.target.closest("[data-sp-copy-table]");
  if (!button) return;
  const table = document.querySelector("#sp-table table");
  if (!table) return;
  const text = [...table.rows]
    .map((row) => [...row.cells].map((cell) => cell.innerText.replace(/,/g, "")).join("\t"))
    .join("\n");
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard permission (an http page, an old browser): copy through a selection.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});
