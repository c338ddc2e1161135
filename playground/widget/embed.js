// Streaming Playground chat widget. Embed on any page:
//   <script src="https://YOUR-PLAYGROUND/widget.js" data-prompt="support-agent" async></script>
// Options (data-*): prompt, model, voice ("local:joe", "deepgram:aura-2-thalia-en"), title,
// target (CSS selector of a container; default: a floating panel at the bottom right), token
// (the playground's PLAYGROUND_WIDGET_TOKEN, needed when its API is behind a token: a
// publishable key that can only start turns with the prompts and models it allows).
(function () {
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src).origin;
  var params = new URLSearchParams();
  ["prompt", "model", "voice", "title"].forEach(function (name) {
    var value = script.dataset[name];
    if (value) params.set(name, value);
  });
  var frame = document.createElement("iframe");
  // The key travels in the fragment: it is never sent to a server or in a Referer header.
  var token = script.dataset.token;
  frame.src = base + "/widget?" + params.toString() +
    (token ? "#token=" + encodeURIComponent(token) : "");
  frame.title = script.dataset.title || "Chat";
  frame.allow = "autoplay";
  frame.style.border = "1px solid #d0d4dc";
  frame.style.borderRadius = "12px";
  frame.style.background = "#fff";
  var target = script.dataset.target && document.querySelector(script.dataset.target);
  if (target) {
    frame.style.width = "100%";
    frame.style.height = "100%";
    target.appendChild(frame);
  } else {
    frame.style.position = "fixed";
    frame.style.right = "16px";
    frame.style.bottom = "16px";
    frame.style.width = "min(380px, calc(100vw - 32px))";
    frame.style.height = "min(560px, calc(100vh - 32px))";
    frame.style.boxShadow = "0 8px 30px rgba(0,0,0,.18)";
    frame.style.zIndex = "2147483000";
    document.body.appendChild(frame);
  }
})();
