"""The report's own stylesheet, put into the page with the verdict: dark text, the matrix
within the page width, and a print layout (the browser's Print / Save as PDF, and
``rlsguard check --pdf``) without pytest-html's filters and buttons."""

STYLE = """<style>
body, p, a, td, th, li, .filters button, .collapse button { color: #111; }
a { color: #0b4f9c; }
.collapsible td:not(.col-links):hover::after, #environment-header h2:hover::after { color: #444; }
#environment-header, #environment, .summary__data > h2, .run-count { display: none; }
.logwrapper:not(:has(.log)), .logwrapper:has(.log:empty) { display: none; }
span.passed, .passed .col-result { color: #14632d; }
span.skipped, span.xfailed, span.rerun, .skipped .col-result, .xfailed .col-result,
.rerun .col-result { color: #7a4a00; }
span.error, span.failed, span.xpassed, .error .col-result, .failed .col-result,
.xpassed .col-result { color: #a40000; }
#rlsguard-verdict h2 { font-size: 22px; margin-top: 0; }
.rlsguard-verdict-pass { color: #14532d; }
.rlsguard-verdict-fail, .rlsguard-verdict-incomplete { color: #8b0000; }
table.rlsguard-matrix, table.rlsguard-controls, #rlsguard-environment table,
#rlsguard-timeline table {
  border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 12px;
}
table.rlsguard-matrix th, table.rlsguard-matrix td, table.rlsguard-controls th,
table.rlsguard-controls td, #rlsguard-timeline th, #rlsguard-timeline td {
  border: 1px solid #777; padding: 2px 4px; overflow-wrap: anywhere; vertical-align: top;
}
table.rlsguard-matrix th.rlsguard-object { width: 24%; text-align: left; }
table.rlsguard-matrix td { text-align: center; }
.rlsguard-ids { overflow-wrap: break-word; }
.rlsguard-rule-name, .rlsguard-kind, .rlsguard-title, .rlsguard-ids, .rlsguard-source {
  font-weight: normal; font-size: 11px; color: #333;
}
.rlsguard-cell { padding: 1px 4px; border: 1px solid #777; }
.rlsguard-notes { font-size: 12px; }
.extraHTML pre, .log, #rlsguard-verdict li { white-space: pre-wrap; overflow-wrap: anywhere; }
#rlsguard-timeline th:first-child { width: 18%; }
#rlsguard-timeline th:last-child { width: 10%; }
.rlsguard-control-satisfied { background: #d4edda; }
.rlsguard-control-not-satisfied { background: #f8d7da; }
.rlsguard-control-partly-tested { background: #fff3cd; }
.rlsguard-control-not-tested { background: #e2e3e5; }
table.rlsguard-controls th[scope=row] { text-align: left; width: 22%; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { min-width: 0; font-size: 10px; }
  .controls, .filter, .summary__reload, .summary__spacer, .logexpander,
  #results-table-head .sortable::after { display: none; }
  h2, h3 { break-after: avoid; }
  tr, li { break-inside: avoid; }
  a { color: #111; text-decoration: none; }
}
</style>"""
