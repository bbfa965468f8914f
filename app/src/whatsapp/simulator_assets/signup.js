// The simulated Embedded Signup popup: the same WA_EMBEDDED_SIGNUP messages Meta's popup
// posts (FINISH, coexistence FINISH with only waba_id, FINISH_ONLY_WABA, CANCEL, ERROR), plus
// the code FB.login would return. The code and the session event are sent in different orders
// on purpose: the page must join them either way.
(function () {
  'use strict';
  var status = document.getElementById('sim-status');
  function post(message) {
    if (window.opener) window.opener.postMessage(JSON.stringify(message), window.location.origin);
  }
  function event(name, data) {
    post({ type: 'WA_EMBEDDED_SIGNUP', event: name, data: data, version: 3 });
  }
  document.querySelectorAll('button[data-mode]').forEach(function (button) {
    // The page serves the buttons disabled: a click before this script ran would do nothing.
    button.disabled = false;
    button.addEventListener('click', function () {
      var mode = button.getAttribute('data-mode');
      if (mode === 'CANCEL') {
        event('CANCEL', { current_step: 'PHONE_NUMBER_SETUP' });
        post({ type: 'SIM_LOGIN_RESULT', code: null });
        window.close();
        return;
      }
      if (mode === 'ERROR') {
        event('ERROR', { error_message: 'Simulated error', error_id: '524126', session_id: 'sim', timestamp: Date.now() });
        post({ type: 'SIM_LOGIN_RESULT', code: null });
        window.close();
        return;
      }
      status.textContent = 'Connecting…';
      fetch('/simulator/graph/_sim/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mode: mode === 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING' ? 'coexistence' : 'normal' })
      }).then(function (r) { return r.json(); }).then(function (s) {
        if (mode === 'FINISH') {
          event('FINISH', { phone_number_id: s.phone_number_id, waba_id: s.waba_id, business_id: s.business_id });
          post({ type: 'SIM_LOGIN_RESULT', code: s.code });
        } else {
          // Coexistence and "only WABA" carry only the WABA, and here the code comes first.
          post({ type: 'SIM_LOGIN_RESULT', code: s.code });
          event(mode, { waba_id: s.waba_id, business_id: s.business_id });
        }
        setTimeout(function () { window.close(); }, 100);
      }).catch(function () { status.textContent = 'The simulator did not answer.'; });
    });
  });
})();
