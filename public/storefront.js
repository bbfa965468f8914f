// The storefront's only script (issue 12): shoppers arrive from WhatsApp on phones over mobile
// data, so storefront pages do not download the dashboard's WASM. Everything works without this
// file — forms post, links load pages, the variant table lists every choice — and this adds
// the one live behaviour a shopper expects: the product page's price, stock, gallery, quantity
// limit and address follow the chosen options. The variants come from the page itself
// (`data-variants` on the add-to-cart form), rendered by the server from the same data as the
// visible table and the structured data.
//
// Hand-written rather than a second Leptos/WASM bundle: the Leptos runtime alone is larger than
// the whole budget for this page, and Leptos' islands mode would turn the dashboard into islands
// too. The rules mirror `PublicProduct::variant_with` and the page's view in storefront/ui.rs.
(function () {
  'use strict';
  var form = document.querySelector('form.add-to-cart[data-variants]');
  if (form) bindVariants(form);
  var checkout = document.querySelector('form[data-enhance="checkout"]');
  if (checkout) bindCheckout(checkout);
  var cartLink = document.querySelector('a[data-cart-cookie]');
  if (cartLink) showCartCount(cartLink);
  // The end-to-end tests' signal that the page's script has run (the dashboard sets the same
  // attribute once its WASM has hydrated).
  document.body.setAttribute('data-hydrated', 'true');

  // The header's cart count: per shopper, so not in the page (storefront pages are cached and
  // shared); the server keeps the count in a small cookie beside the cart's signed one.
  function showCartCount(link) {
    var name = link.getAttribute('data-cart-cookie') + '=';
    var n = 0;
    document.cookie.split('; ').forEach(function (c) {
      if (c.indexOf(name) === 0) n = parseInt(c.slice(name.length), 10) || 0;
    });
    var badge = link.querySelector('.store-cart-count');
    if (!badge || n <= 0) return;
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.hidden = false;
    link.setAttribute('aria-label', 'Cart, ' + n + (n === 1 ? ' item' : ' items'));
  }

  // The checkout form, sent with fetch: the server function answers JSON (the order's id, or
  // the errors field by field), so a mistake shows beside its field and nothing typed is lost.
  // Without this the form posts and the page reloads (the no-JavaScript path).
  function bindCheckout(form) {
    if (!window.fetch || !window.URLSearchParams || !window.FormData) return;
    var button = form.querySelector('button[type="submit"]');
    var pending = false;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (pending) return;
      pending = true;
      if (button) button.disabled = true;
      fetch(form.getAttribute('action'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (res) {
        return res.json().catch(function () { return null; }).then(function (data) {
          if (res.ok && typeof data === 'string') {
            var shop = form.querySelector('input[name="shop"]').value;
            window.location.assign('/s/' + encodeURIComponent(shop) + '/order/' + encodeURIComponent(data));
            return;
          }
          show(data || { error: 'The order could not be placed. Please try again.' });
        });
      }).catch(function () {
        show({ error: 'We could not reach the shop. Check your connection and try again.' });
      }).then(function () {
        pending = false;
        if (button) button.disabled = false;
      });
    });

    function show(err) {
      Array.prototype.forEach.call(form.querySelectorAll('.field'), function (field) {
        field.classList.remove('has-error');
        var p = field.querySelector('.field-error');
        if (p) p.textContent = '';
        var input = field.querySelector('input, textarea, select');
        if (input) input.setAttribute('aria-invalid', 'false');
      });
      var old = form.querySelector('.notice.error[data-from-script]');
      if (old) old.remove();
      var banner = err.kind === 'validation' ? null : err.error;
      var first = null;
      var fields = err.fields || {};
      Object.keys(fields).forEach(function (name) {
        var input = form.querySelector('[name="' + name + '"]');
        var field = input && input.closest('.field');
        var p = field && field.querySelector('.field-error');
        if (!p) { banner = fields[name]; return; }
        p.textContent = fields[name];
        field.classList.add('has-error');
        input.setAttribute('aria-invalid', 'true');
        if (!first) first = input;
      });
      if (banner) {
        var note = document.createElement('div');
        note.className = 'notice error';
        note.setAttribute('role', 'alert');
        note.setAttribute('data-from-script', '');
        note.textContent = banner;
        form.insertBefore(note, form.firstChild);
      }
      if (first) first.focus();
    }
  }

  function bindVariants(form) {
    var variants;
    try { variants = JSON.parse(form.getAttribute('data-variants')); } catch (e) { return; }
    var selects = Array.prototype.slice.call(form.querySelectorAll('select[name^="o"]'));
    if (!selects.length) return;
    var price = document.querySelector('[data-testid="price"]');
    var was = price && price.parentNode.querySelector('.was');
    var stock = document.querySelector('[data-testid="stock"]');
    var qty = form.querySelector('input[name="quantity"]');
    var button = form.querySelector('button[type="submit"]');
    var gallery = document.querySelector('.gallery');

    function chosen() { return selects.map(function (s) { return s.value; }); }
    function variantWith(values) {
      for (var i = 0; i < variants.length; i++) {
        var v = variants[i];
        if (v.options.length === values.length && v.options.every(function (o, j) { return o === values[j]; })) return v;
      }
      return null;
    }

    function render(moved) {
      var values = chosen();
      var v = variantWith(values);
      if (price && v) price.textContent = v.price;
      if (price) {
        if (was) {
          var before = was.previousSibling;
          if (before && before.nodeType === 3 && !before.textContent.trim()) before.remove();
          was.remove();
          was = null;
        }
        if (v && v.compare_at) {
          was = document.createElement('s');
          was.className = 'was';
          var hidden = document.createElement('span');
          hidden.className = 'visually-hidden';
          hidden.textContent = 'Was ';
          was.appendChild(hidden);
          was.appendChild(document.createTextNode(v.compare_at));
          price.parentNode.appendChild(document.createTextNode(' '));
          price.parentNode.appendChild(was);
        }
      }
      var available = !!(v && v.available);
      if (stock) {
        stock.textContent = !v || !v.enabled ? 'Not available in this combination' : (v.available ? 'In stock' : 'Sold out');
        stock.className = available ? 'stock in' : 'stock out';
      }
      if (button) button.disabled = !available;
      if (qty) qty.max = String(Math.min(99, Math.max(1, (v && v.max_quantity) || 99)));
      // Each option says what choosing it would give with the other choices kept.
      selects.forEach(function (select, i) {
        Array.prototype.forEach.call(select.options, function (option) {
          var combo = values.slice();
          combo[i] = option.value;
          var x = variantWith(combo);
          var mark = x && x.available ? '' : (x && x.enabled ? ' (sold out)' : ' (unavailable)');
          option.textContent = option.value + mark;
        });
      });
      // The variant's own image leads the gallery.
      if (gallery && v && v.image) {
        var imgs = gallery.querySelectorAll('img');
        for (var k = 0; k < imgs.length; k++) {
          if (imgs[k].getAttribute('src') === v.image) {
            if (k > 0) gallery.insertBefore(imgs[k], gallery.firstChild);
            break;
          }
        }
      }
      // A shareable address for the choice, without a new history entry or a reload.
      if (moved && v && window.history && window.history.replaceState) {
        window.history.replaceState(null, '', '?variant=' + v.id);
      }
    }

    selects.forEach(function (s) { s.addEventListener('change', function () { render(true); }); });
    render(false);
  }
})();
