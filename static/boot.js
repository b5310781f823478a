// Starts the playground's WebAssembly. A file of its own, not an inline script, so that the
// page's Content-Security-Policy allows only scripts the gateway serves.
import("/pkg/socketlab_web.js")
  .then((m) => m.default({ module_or_path: "/pkg/socketlab_web_bg.wasm" }))
  .catch(() => {
    const s = document.getElementById("status");
    s.textContent = "The page's WebAssembly did not load. Build it with: cargo xtask run";
    s.className = "status reconnecting";
  });
