// Staff console: the CSRF header on every htmx request, and live updates over server-sent events.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.dataset.csrf;
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var target = event.detail.target;
    if (target && event.detail.xhr && event.detail.xhr.status >= 400) {
      var box = document.createElement("div");
      box.innerHTML = event.detail.xhr.responseText;  // our own escaped error fragment
      target.prepend(box);
    }
  });
  if (!document.getElementById("queue") || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var source = new EventSource("/console/events");
  source.addEventListener("open", function () { if (status) { status.textContent = "实时"; status.classList.remove("off"); } });
  source.addEventListener("error", function () { if (status) { status.textContent = "重新连接中…"; status.classList.add("off"); } });
  source.addEventListener("changed", function () { document.body.dispatchEvent(new Event("medvoice:changed")); });
  source.addEventListener("signed-out", function () { source.close(); window.location.href = "/console/login"; });
})();
