// The Jupyter widget manager (@jupyter-widgets/html-manager 1.x) typesets widget labels with
// the MathJax 2 call `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])`; the book serves
// MathJax 3, which has no `Hub`. Map that one call onto MathJax 3's typesetPromise.
(function () {
  function shim() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : null;
        if (element && typeof mj.typesetPromise === "function") {
          mj.typesetPromise([element]).catch(function () {});
        }
      },
    };
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
  window.addEventListener("load", shim);
})();
