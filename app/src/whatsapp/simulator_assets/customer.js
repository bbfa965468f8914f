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
  var lastRendered = null;

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

  function describeBusiness(m) {
    if (m.type === 'interactive') return (m.interactive.body && m.interactive.body.text) || '';
    return describe(m);
  }

  // Reply buttons and list rows the business sent, as buttons the customer can tap (only the
  // newest message's: WhatsApp lets old ones be tapped too, but that is rarely wanted here).
  function choices(m, li) {
    var action = m.interactive && m.interactive.action;
    if (!action) return;
    var options = [];
    (action.buttons || []).forEach(function (b) { options.push(['button', b.reply.id, b.reply.title, '']); });
    (action.sections || []).forEach(function (s) {
      (s.rows || []).forEach(function (r) { options.push(['list', r.id, r.title, r.description || '']); });
    });
    if (!options.length) return;
    var box = document.createElement('div');
    box.className = 'sim-choices';
    options.forEach(function (o) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'button';
      b.setAttribute('data-testid', 'sim-choice');
      b.textContent = o[3] ? o[2] + ' — ' + o[3] : o[2];
      b.addEventListener('click', function () { send(o[0], o[2], false, o[1]); });
      box.appendChild(b);
    });
    li.appendChild(box);
  }

  function render(messages) {
    var key = JSON.stringify(messages.map(function (l) { return l.id; }));
    if (key === lastRendered) return;
    lastRendered = key;
    chat.textContent = '';
    var last = null;
    messages.forEach(function (line) {
      var li = document.createElement('li');
      li.className = 'sim-line ' + line.from;
      li.setAttribute('data-testid', 'sim-' + line.from);
      var p = document.createElement('p');
      p.textContent = line.from === 'business' ? describeBusiness(line.message) : describe(line.message);
      li.appendChild(p);
      chat.appendChild(li);
      if (line.from === 'business') lastBusinessId = line.id;
      last = { line: line, li: li };
    });
    if (last && last.line.from === 'business') choices(last.line.message, last.li);
  }

  function refresh() {
    if (!numberSelect.value) return;
    var q = new URLSearchParams({ phone_number_id: numberSelect.value, customer: from.value });
    api('chat?' + q.toString()).then(function (r) { render(r.messages); }).catch(function () {});
  }

  function send(kind, body, duplicate, replyId) {
    error.textContent = '';
    if (!numberSelect.value) { error.textContent = 'Connect a shop to the simulator first (dashboard → WhatsApp).'; return; }
    api('send', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        phone_number_id: numberSelect.value, from: from.value, name: name.value,
        kind: kind, text: body || '', duplicate: !!duplicate,
        reply_to: kind === 'reaction' ? lastBusinessId : null,
        reply_id: replyId || null
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
