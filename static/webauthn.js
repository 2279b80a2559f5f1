// keyway WebAuthn glue (issue 17 item 4): served from /static under CSP script-src 'self'. Pages work without it
// for password sign-in; it only turns on the passkey buttons. Options come from the server (POST, CSRF token in
// the form body); the browser's answer goes back in a hidden field of a real form, so the server's response
// (a redirect or the form_post page) is followed by the browser as after any sign-in.
(function () {
  "use strict";
  var box = document.getElementById("webauthn");
  var button = document.getElementById("passkey-button");
  if (!box || !button || !window.PublicKeyCredential) return;
  var form = document.getElementById("passkey-form");

  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fixDescriptors(list) {
    (list || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
  }
  function options() {
    var body = new URLSearchParams();
    body.set("csrf_token", box.dataset.csrf);
    var authz = box.dataset.authz;
    if (authz) body.set("authz", authz);
    return fetch(box.dataset.options, { method: "POST", body: body, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("options " + r.status);
      return r.json();
    });
  }
  function submit(cred, isCreate) {
    var resp = { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, extensions: {} };
    if (isCreate) {
      resp.response = {
        attestationObject: bufToB64u(cred.response.attestationObject),
        clientDataJSON: bufToB64u(cred.response.clientDataJSON)
      };
    } else {
      resp.response = {
        authenticatorData: bufToB64u(cred.response.authenticatorData),
        clientDataJSON: bufToB64u(cred.response.clientDataJSON),
        signature: bufToB64u(cred.response.signature),
        userHandle: cred.response.userHandle ? bufToB64u(cred.response.userHandle) : null
      };
    }
    form.elements["credential"].value = JSON.stringify(resp);
    form.submit();
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    options().then(function (o) {
      var pk = o.publicKey;
      pk.challenge = b64uToBuf(pk.challenge);
      if (box.dataset.mode === "register") {
        pk.user.id = b64uToBuf(pk.user.id);
        fixDescriptors(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk }).then(function (c) { submit(c, true); });
      }
      fixDescriptors(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk }).then(function (c) { submit(c, false); });
    }).catch(function (e) {
      button.disabled = false;
      var msg = document.getElementById("webauthn-error");
      if (!msg) {
        msg = document.createElement("p");
        msg.id = "webauthn-error";
        msg.className = "error";
        msg.setAttribute("role", "alert");
        box.insertBefore(msg, box.firstChild);
      }
      msg.textContent = box.dataset.failed || String(e && e.name || e);
    });
  });
})();
