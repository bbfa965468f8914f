// Embedded Signup (v4) on the dashboard's WhatsApp page. Listens for Meta's WA_EMBEDDED_SIGNUP
// messages from the configured origin before launching FB.login, joins the code with the
// session event in whichever order they arrive, and posts both to the server, which exchanges
// the code at once (it lives 30 seconds). In simulator mode the SDK is a local stand-in.
(function () {
  'use strict';
  var root = document.getElementById('wa-embedded-signup');
  // The page may render the section again (after a disconnect): bind each section once.
  if (!root || root.getAttribute('data-bound')) return;
  root.setAttribute('data-bound', '1');
  var button = document.getElementById('wa-connect');
  var status = document.getElementById('wa-signup-status');
  var cfg = {
    appId: root.getAttribute('data-app-id'),
    configId: root.getAttribute('data-config-id'),
    version: root.getAttribute('data-api-version'),
    extras: root.getAttribute('data-extras') || '{}',
    originHost: (root.getAttribute('data-origin-host') || 'facebook.com').toLowerCase(),
    sdkUrl: root.getAttribute('data-sdk-url')
  };
  var session = null;
  var code = null;
  var sent = false;
  var FINISH = ['FINISH', 'FINISH_ONLY_WABA', 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING', 'FINISH_OBO_MIGRATION', 'FINISH_GRANT_ONLY_API_ACCESS'];

  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? 'notice error' : 'notice';
  }

  function trustedOrigin(origin) {
    try {
      var host = new URL(origin).hostname.toLowerCase();
      return host === cfg.originHost || host.endsWith('.' + cfg.originHost);
    } catch (e) { return false; }
  }

  window.addEventListener('message', function (event) {
    if (!trustedOrigin(event.origin)) return;
    var data = event.data;
    if (typeof data === 'string') { try { data = JSON.parse(data); } catch (e) { return; } }
    if (!data || data.type !== 'WA_EMBEDDED_SIGNUP') return;
    if (data.event === 'CANCEL') {
      say('You closed the sign-up before finishing. Nothing was connected; start again when you are ready.', true);
      reset();
      return;
    }
    if (data.event === 'ERROR') {
      say('Facebook reported an error: ' + ((data.data && data.data.error_message) || 'unknown') + '. Nothing was connected; please try again.', true);
      reset();
      return;
    }
    if (FINISH.indexOf(data.event) >= 0) {
      session = { event: data.event, data: data.data || {} };
      join();
    }
  });

  function reset() {
    session = null; code = null; sent = false;
    button.disabled = false;
  }

  function join() {
    if (sent || !session || !code) return;
    sent = true;
    say('Connecting your number…');
    var result = {
      code: code, event: session.event, waba_id: session.data.waba_id || '',
      phone_number_id: session.data.phone_number_id || null, business_id: session.data.business_id || null
    };
    fetch('/api/whatsapp/embedded-signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ result: result })
    }).then(function (r) {
      if (r.ok) { say('Connected. Loading…'); window.location.reload(); return; }
      return r.json().catch(function () { return {}; }).then(function (body) {
        var message = (body && body.fields && (body.fields.signup || Object.values(body.fields)[0])) || (body && body.error) || 'The connection failed. Please try again.';
        say(message, true);
        reset();
      });
    }).catch(function () { say('We could not reach Bizmaat. Check your connection and try again.', true); reset(); });
  }

  function launch() {
    button.disabled = true;
    say('Follow the steps in the Facebook window…');
    var extras = {};
    try { extras = JSON.parse(cfg.extras); } catch (e) {}
    window.FB.login(function (response) {
      if (response && response.authResponse && response.authResponse.code) {
        code = response.authResponse.code;
        join();
      } else if (!session && !sent) {
        // The session event may still come (CANCEL/ERROR say so); otherwise the window closed.
        setTimeout(function () {
          if (!sent && !code) { say('The Facebook window closed before finishing. Nothing was connected.', true); reset(); }
        }, 1000);
      }
    }, { config_id: cfg.configId, response_type: 'code', override_default_response_type: true, extras: extras });
  }

  function loadSdk(done) {
    if (window.FB) { done(); return; }
    window.fbAsyncInit = function () {
      window.FB.init({ appId: cfg.appId, autoLogAppEvents: true, xfbml: false, version: cfg.version });
      done();
    };
    var s = document.createElement('script');
    s.src = cfg.sdkUrl;
    s.async = true;
    s.crossOrigin = 'anonymous';
    s.onerror = function () { say('The Facebook SDK did not load. Check your connection or ad blocker and try again.', true); button.disabled = false; };
    document.head.appendChild(s);
  }

  // Loaded up front, so the click opens the popup directly (browsers block popups that do not
  // come straight from a click).
  loadSdk(function () {});
  button.addEventListener('click', function () {
    if (window.FB && window.FB.login) launch();
    else say('Facebook is still loading; try again in a moment.', true);
  });
})();
