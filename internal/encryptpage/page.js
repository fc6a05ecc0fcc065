"use strict";
// Encrypts a SAS URL in this page with WebCrypto: RSA-OAEP with SHA-256
// under the selected residency's public key (the product doc's `openssl
// pkeyutl -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256`),
// and prints the cipher as `base64` does: lines of 76 characters, each
// ending in a line break. Nothing leaves the page: there is no request
// in this code, and the page's Content-Security-Policy forbids any.
(function () {
  var MAX_BYTES = 446; // RSA-4096, OAEP SHA-256: 512 - 2*32 - 2
  var BLOB_SUFFIX = ".blob.core.windows.net";
  var PERMISSION_NAMES = {
    r: "read", a: "add", c: "create", w: "write", d: "delete", x: "delete version", y: "permanent delete",
    l: "list", t: "tags", f: "filter", m: "move", e: "execute", o: "ownership", p: "permissions", i: "set immutability policy"
  };
  var sasEl = document.getElementById("sas");
  var resEl = document.getElementById("residency");
  var button = document.getElementById("encrypt");
  var cipherEl = document.getElementById("cipher");
  var errorEl = document.getElementById("error");
  var fingerprintEl = document.getElementById("fingerprint");

  function showKey() {
    var opt = resEl.options[resEl.selectedIndex];
    fingerprintEl.textContent = "Key SHA-256 fingerprint: " + opt.getAttribute("data-fingerprint");
  }

  // quoteSpace shows a run of white space (never part of the secret) the
  // way the command line tool does, e.g. "\n".
  function quoteSpace(ws) {
    var chars = Array.from(ws);
    if (chars.length > 8) {
      return JSON.stringify(chars.slice(0, 8).join("")) + "\u2026 (" + chars.length + " characters)";
    }
    return JSON.stringify(ws);
  }

  // check applies the rules of `auditctl sas encrypt` that a customer can
  // get wrong; the service checks everything again after decryption. Its
  // messages never repeat the URL's query, where the signature is.
  function check(v) {
    if (v === "") {
      return "SAS URL is empty: paste the Blob SAS URL.";
    }
    var lead = v.match(/^\s+/), trail = v.match(/\s+$/);
    if (lead && lead[0].length === v.length) {
      return "SAS URL is only white space (" + quoteSpace(v) + ").";
    }
    if (lead && trail) {
      return "SAS URL starts with white space (" + quoteSpace(lead[0]) + ") and ends with white space (" + quoteSpace(trail[0]) + "): remove both; the URL must be the only content.";
    }
    if (lead) {
      return "SAS URL starts with white space (" + quoteSpace(lead[0]) + "): remove it; the URL must be the only content.";
    }
    if (trail) {
      return "SAS URL ends with white space (" + quoteSpace(trail[0]) + "), often a line break copied with it: remove it.";
    }
    for (var i = 0; i < v.length; i++) {
      var c = v.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f) {
        return "SAS URL has a space, control or non-ASCII character at position " + (i + 1) + ": a SAS URL is printable ASCII.";
      }
    }
    if (v.length > MAX_BYTES) {
      return "SAS URL is " + v.length + " characters long; RSA-4096 with OAEP SHA-256 encrypts at most " + MAX_BYTES + ": is it a single container SAS URL?";
    }
    var u;
    try {
      u = new URL(v);
    } catch (e) {
      return "SAS URL cannot be parsed: it must look like https://<account>" + BLOB_SUFFIX + "/<container>?<sas>.";
    }
    var host = u.host.toLowerCase();
    if (host.length <= BLOB_SUFFIX.length || host.slice(-BLOB_SUFFIX.length) !== BLOB_SUFFIX || host.slice(0, -BLOB_SUFFIX.length).indexOf(".") >= 0) {
      return "SAS host " + JSON.stringify(host) + " is not an Azure Blob host (<account>" + BLOB_SUFFIX + ").";
    }
    if (u.protocol !== "https:") {
      return "SAS URL scheme " + JSON.stringify(u.protocol.replace(/:$/, "")) + " is not https.";
    }
    var segs = u.pathname.replace(/^\/+|\/+$/g, "").split("/").filter(function (s) { return s !== ""; });
    if (segs.length !== 1) {
      return "SAS URL must name exactly one container (found " + segs.length + " path segments): use the container's Blob SAS URL.";
    }
    var q = u.searchParams;
    if (!q.get("sig")) {
      return "SAS URL has no signature (sig): copy the whole Blob SAS URL.";
    }
    if (q.has("ss") || q.has("srt")) {
      return "SAS URL is an account SAS (it has the parameter " + (q.has("ss") ? "ss" : "srt") + "), which reaches beyond one container: generate a container SAS instead.";
    }
    var sp = q.get("sp") || "";
    if (sp.indexOf("c") < 0 || sp.indexOf("w") < 0) {
      return "SAS permissions " + JSON.stringify(sp) + " lack create (c) or write (w): generate the SAS with Create and Write.";
    }
    // The service refuses any permission beyond create, write and add: it
    // must not hold a credential that reads, lists or deletes your data.
    var extra = "";
    for (var k = 0; k < sp.length; k++) {
      var p = sp.charAt(k);
      if ("cwa".indexOf(p) < 0 && extra.indexOf(p) < 0) {
        extra += p;
      }
    }
    if (extra !== "") {
      return "SAS permissions " + JSON.stringify(sp) + " grant more than create, write and add: remove " +
        extra.split("").map(function (p) { return (PERMISSION_NAMES[p] || "an unknown permission") + " (" + p + ")"; }).join(", ") +
        ", and generate the SAS with only Create and Write.";
    }
    var se = q.get("se");
    if (!se) {
      return "SAS URL has no expiry (se).";
    }
    var expiry = Date.parse(se);
    if (isNaN(expiry)) {
      return "SAS expiry (se) " + JSON.stringify(se) + " is not a time.";
    }
    if (expiry <= Date.now()) {
      return "SAS URL expired at " + se + ": generate a new one.";
    }
    return "";
  }

  function fromBase64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }

  // wrap76 writes bytes as GNU base64 does (and auditctl sas encrypt).
  function wrap76(bytes) {
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    var b64 = btoa(bin), out = "";
    for (var j = 0; j < b64.length; j += 76) {
      out += b64.slice(j, j + 76) + "\n";
    }
    return out;
  }

  async function encrypt() {
    errorEl.textContent = "";
    cipherEl.value = "";
    var v = sasEl.value;
    var problem = check(v);
    if (problem) {
      errorEl.textContent = problem;
      return;
    }
    if (!window.crypto || !window.crypto.subtle) {
      errorEl.textContent = "This browser offers no WebCrypto here: open the saved file directly, or use the command line option.";
      return;
    }
    var opt = resEl.options[resEl.selectedIndex];
    button.disabled = true;
    try {
      var key = await crypto.subtle.importKey("spki", fromBase64(opt.getAttribute("data-spki")),
        { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]);
      if (key.algorithm.modulusLength !== 4096) {
        throw new Error("the embedded key is not RSA 4096");
      }
      var cipher = await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, new TextEncoder().encode(v));
      cipherEl.value = wrap76(new Uint8Array(cipher));
      cipherEl.setAttribute("data-residency", opt.value);
    } catch (e) {
      errorEl.textContent = "Encryption failed: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  resEl.addEventListener("change", function () {
    showKey();
    cipherEl.value = "";
  });
  sasEl.addEventListener("input", function () {
    cipherEl.value = "";
  });
  button.addEventListener("click", encrypt);
  showKey();
  button.disabled = false;
  document.body.setAttribute("data-ready", "true");
})();
