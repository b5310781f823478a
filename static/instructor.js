// Starts the instructor page's WebAssembly. A file of its own, not an inline script, so that
// the page's Content-Security-Policy allows only scripts the gateway serves.
import("/pkg/socketlab_instructor.js")
  .then((m) => m.default({ module_or_path: "/pkg/socketlab_instructor_bg.wasm" }))
  .catch(() => {
    document.getElementById("error").textContent =
      "The page's WebAssembly did not load. Build it with: cargo xtask run";
  });
