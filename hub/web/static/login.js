// A link of the form /login#token=... (`hub demo` prints one per role) logs in at once. The token comes in
// the URL's fragment, which browsers never send to the server, so it stays out of request logs; it is
// taken out of the address bar before the form is sent.
(function () {
  var match = /^#token=([A-Za-z0-9_.\-]+)$/.exec(window.location.hash);
  if (!match) return;
  history.replaceState(null, "", window.location.pathname);
  document.getElementById("token").value = match[1];
  document.getElementById("login").submit();
})();
