// Stand-in for Facebook's JS SDK in simulator mode: FB.init does nothing, FB.login opens the
// simulated Embedded Signup popup, which posts WA_EMBEDDED_SIGNUP to this window like Meta's,
// and then hands back the code the way FB.login's callback would.
(function () {
  'use strict';
  var FB = {
    init: function () {},
    login: function (callback, options) {
      var params = new URLSearchParams({
        config_id: (options && options.config_id) || '',
        extras: JSON.stringify((options && options.extras) || {})
      });
      var popup = window.open('/simulator/signup?' + params.toString(), 'wa-signup', 'width=520,height=640');
      var done = false;
      function finish(response) {
        if (done) return;
        done = true;
        window.removeEventListener('message', onMessage);
        clearInterval(watch);
        callback(response);
      }
      function onMessage(event) {
        if (event.origin !== window.location.origin) return;
        var data = event.data;
        if (typeof data === 'string') { try { data = JSON.parse(data); } catch (e) { return; } }
        if (data && data.type === 'SIM_LOGIN_RESULT') {
          finish(data.code ? { authResponse: { code: data.code }, status: 'connected' } : { authResponse: null, status: 'unknown' });
        }
      }
      window.addEventListener('message', onMessage);
      var watch = setInterval(function () {
        if (!popup || popup.closed) { setTimeout(function () { finish({ authResponse: null, status: 'unknown' }); }, 300); }
      }, 500);
    }
  };
  window.FB = FB;
  if (typeof window.fbAsyncInit === 'function') window.fbAsyncInit();
})();
