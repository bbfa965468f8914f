// The customer simulator page: sends what a customer would (as signed webhooks, through the
// server) and shows the customer's side of the chat, polling every second.
(function () {
  'use strict';
  var numberSelect = document.getElementById('sim-number');
  var from = document.getElementById('sim-from');
  var name = document.getElementById('sim-name');
  var chat = document.getElementById('sim-chat');
  var text = document.getElementById('sim-text');
  var error = document.getElementById('sim-error');
  var lastBusinessId = null;

  function api(path, options) {
    return fetch('/simulator/graph/_sim/' + path, options).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  function describe(m) {
    switch (m.type) {
      case 'text': return m.text && m.text.body;
      case 'image': return '[photo] ' + ((m.image && (m.image.caption || m.image.link)) || '');
      case 'interactive': return '[reply] ' + ((m.interactive.button_reply || m.interactive.list_reply || {}).title || '');
      case 'location': return '[location] ' + (m.location && m.location.address);
      case 'order': return '[order] ' + m.order.product_items.length + ' item(s)';
      case 'reaction': return '[reaction] ' + m.reaction.emoji;
      case 'template': return '[template ' + m.template.name + '] ' + JSON.stringify(((m.template.components || [])[0] || {}).parameters || []);
      default: return '[' + m.type + ']';
    }
  }

  function render(messages) {
    chat.textContent = '';
    messages.forEach(function (line) {
      var li = document.createElement('li');
      li.className = 'sim-line ' + line.from;
      li.setAttribute('data-testid', 'sim-' + line.from);
      li.textContent = describe(line.message);
      chat.appendChild(li);
      if (line.from === 'business') lastBusinessId = line.id;
    });
  }

  function refresh() {
    if (!numberSelect.value) return;
    var q = new URLSearchParams({ phone_number_id: numberSelect.value, customer: from.value });
    api('chat?' + q.toString()).then(function (r) { render(r.messages); }).catch(function () {});
  }

  function send(kind, body, duplicate) {
    error.textContent = '';
    if (!numberSelect.value) { error.textContent = 'Connect a shop to the simulator first (dashboard → WhatsApp).'; return; }
    api('send', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        phone_number_id: numberSelect.value, from: from.value, name: name.value,
        kind: kind, text: body || '', duplicate: !!duplicate,
        reply_to: kind === 'reaction' ? lastBusinessId : null
      })
    }).then(refresh).catch(function (e) { error.textContent = e.message; });
  }

  api('numbers').then(function (numbers) {
    numbers.forEach(function (n) {
      var o = document.createElement('option');
      o.value = n.phone_number_id;
      o.textContent = n.shop + ' (' + n.display + ')';
      numberSelect.appendChild(o);
    });
    if (!numbers.length) error.textContent = 'No shop is connected to the simulator yet: open the dashboard → WhatsApp → Connect.';
    refresh();
  });
  numberSelect.addEventListener('change', refresh);
  from.addEventListener('change', refresh);
  document.getElementById('sim-compose').addEventListener('submit', function (e) {
    e.preventDefault();
    if (!text.value.trim()) return;
    send('text', text.value);
    text.value = '';
  });
  document.querySelectorAll('button[data-kind]').forEach(function (b) {
    b.addEventListener('click', function () {
      send(b.getAttribute('data-kind'), b.getAttribute('data-text') || (b.getAttribute('data-duplicate') ? 'Hello' : ''), b.getAttribute('data-duplicate'));
    });
  });
  setInterval(refresh, 1000);
})();
