import { test, expect, hydrated, signUp, uniqueEmail } from './fixtures';

// Orders from the seeded demo shop (SEED_DEMO=true on the server under test).
async function addToCart(page: import('@playwright/test').Page, slug: string, quantity = '1') {
  await page.goto(`/s/lagos-looms/p/${slug}`);
  await page.getByLabel('Quantity').fill(quantity);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/cart$/);
}

test('a shopper adds two products, reloads, changes a quantity and orders', async ({ page }) => {
  await addToCart(page, 'ankara-tote-bag');
  await addToCart(page, 'hand-carved-wooden-spoon', '2');
  await page.reload();
  await expect(page.getByTestId('cart-total')).toHaveText('₦14,500.00');

  await page.getByLabel('Quantity of Hand-Carved Wooden Spoon').fill('3');
  await page.getByRole('row', { name: /Hand-Carved Wooden Spoon/ }).getByRole('button', { name: 'Update' }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('₦17,500.00');

  await hydrated(page);
  await page.getByLabel('Your name').fill('Chioma Eze');
  await page.getByLabel('WhatsApp number').fill('+234 803 555 0101');
  await page.getByLabel('Delivery address').fill('14 Broad Street, Lagos Island');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/order\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('order-number')).toHaveText(/^#\d{4,}$/);
  await expect(page.getByTestId('order-total')).toHaveText('₦17,500.00');
  await expect(page.getByRole('link', { name: 'Message the shop about this order' })).toHaveAttribute('href', /wa\.me\/2348012345678\?text=.*order%20%23\d+/);
  await expect(page.getByRole('heading', { name: 'What happens next' })).toBeVisible();
  await expect(page.getByRole('link', { name: '← Back to the shop' })).toHaveAttribute('href', '/s/lagos-looms');
  // Still in the shop: its header, with the cart emptied by the order.
  await expect(page.locator('.store-header .store-name')).toHaveText('Lagos Looms');
  await expect(page.getByRole('searchbox', { name: 'Search products' })).toBeVisible();
  await expect(page.locator('.store-cart-count')).toBeHidden();
  const number = (await page.getByTestId('order-number').textContent())!.trim();

  // The merchant sees the new-order badge, opens the order, confirms and ships it.
  await page.goto('/login?next=/dashboard');
  await hydrated(page);
  await page.getByLabel('Email', { exact: true }).fill('demo@bizmaat.local');
  await page.getByLabel('Password', { exact: true }).fill('demo-shop-2026');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: /Orders/ }).click();
  await page.getByRole('link', { name: number, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Order ${number}`);
  await expect(page.getByText('Chioma Eze')).toBeVisible();
  await expect(page.getByTestId('order-status')).toHaveText('New');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('Confirmed');
  await page.getByRole('button', { name: 'Mark shipped' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('Shipped');
});

test('a shop of its own counts exactly its own orders', async ({ page }) => {
  // Its own shop, so orders placed by tests running alongside cannot satisfy the counts.
  await signUp(page, uniqueEmail('counts'), 'Count Wares');
  const slug = `count-wares-${Date.now()}`;
  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByLabel('WhatsApp number').fill('+234 801 234 5678');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');
  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill('Clay Pot');
  await page.getByLabel(/^Price/).fill('2,000');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page.getByTestId('product-status')).toHaveText('Active');

  await page.goto(`/s/${slug}/p/clay-pot`);
  await page.getByLabel('Quantity').fill('3');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('₦6,000.00');
  await hydrated(page);
  await page.getByLabel('Your name').fill('Bola Ade');
  await page.getByLabel('WhatsApp number').fill('+234 803 555 0199');
  await page.getByLabel('Delivery address').fill('7 Allen Avenue, Ikeja');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByTestId('order-total')).toHaveText('₦6,000.00');

  await page.goto('/dashboard');
  await expect(page.getByTestId('new-orders')).toHaveText('1');
  await expect(page.getByTestId('orders-7')).toHaveText('1');
  // Not revenue until the merchant confirms it: shown apart as awaiting confirmation.
  await expect(page.getByTestId('revenue-7')).toHaveText('₦0.00');
  await expect(page.getByTestId('pending')).toHaveText('₦6,000.00');

  // Confirming the order in the dashboard (no reload) takes it off the navigation's count.
  await hydrated(page);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: /Orders/ }).click();
  await page.getByRole('link', { name: /^#\d+$/ }).first().click();
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('Confirmed');
  await expect(page.getByTestId('new-orders')).toBeHidden();
  const orderUrl = page.url();
  await page.goto('/dashboard');
  await expect(page.getByTestId('revenue-7')).toHaveText('₦6,000.00');
  await expect(page.getByTestId('pending')).toHaveText('₦0.00');

  // Cancelled with a reason (kept in the history), then reopened: a mistake can be undone.
  await page.goto(orderUrl);
  await hydrated(page);
  await page.getByLabel('Reason for cancelling (optional)').fill('Customer asked to wait until payday');
  await page.getByRole('button', { name: 'Cancel order' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('Cancelled');
  await expect(page.locator('.timeline')).toContainText('Reason: Customer asked to wait until payday');
  await page.getByRole('button', { name: 'Reopen order' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('New');
  await expect(page.locator('.timeline')).toContainText('Reopened');
});

test('a mistake at checkout shows beside its field and keeps what the shopper typed', async ({ page }) => {
  await addToCart(page, 'ankara-tote-bag');
  await hydrated(page);
  await page.getByLabel('Your name').fill('Kemi Ade');
  await page.getByLabel('Delivery address').fill('5 Awolowo Road, Ikoyi');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByText('Enter your WhatsApp number so the shop can confirm the order.')).toBeVisible();
  await expect(page.getByLabel('WhatsApp number')).toBeFocused();
  await expect(page.getByLabel('WhatsApp number')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Your name')).toHaveValue('Kemi Ade');
  await expect(page.getByLabel('Delivery address')).toHaveValue('5 Awolowo Road, Ikoyi');

  await page.getByLabel('WhatsApp number').fill('+234 803 555 0177');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/order\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('order-number')).toHaveText(/^#\d{4,}$/);
  // The cart is empty once the order is placed.
  await page.goto('/s/lagos-looms/cart');
  await expect(page.getByText('Your cart is empty.')).toBeVisible();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a shopper without JavaScript can order too', async ({ page }) => {
    await addToCart(page, 'beaded-coaster-set', '2');
    await expect(page.getByTestId('cart-total')).toHaveText('₦11,000.00');
    await page.getByLabel('Your name').fill('Tunde Bello');
    await page.getByLabel('WhatsApp number').fill('+2348035550102');
    await page.getByLabel('Delivery address').fill('3 Marina Road');
    await page.getByRole('button', { name: 'Place order' }).click();
    await expect(page).toHaveURL(/\/s\/lagos-looms\/order\//);
    await expect(page.getByTestId('order-total')).toHaveText('₦11,000.00');
  });
});

test('after hydration, the header cart link shows what was added', async ({ page }) => {
  await page.goto('/s/lagos-looms/p/ankara-tote-bag');
  await hydrated(page);
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/cart$/);
  // Back to the shop and to the cart again by clicking: client-side navigation loads the cart
  // through /api/…, which must see the cart cookie.
  await page.goto('/s/lagos-looms/p/hand-carved-wooden-spoon');
  await hydrated(page);
  await page.getByRole('link', { name: 'Cart, 2 items' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/cart$/);
  await expect(page.getByLabel('Quantity of Ankara Tote Bag')).toHaveValue('2');
});

test('on a phone the shop header is one compact bar with the cart count', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await addToCart(page, 'ankara-tote-bag', '2');
  await page.goto('/s/lagos-looms');
  await hydrated(page);
  const header = (await page.locator('.store-header').boundingBox())!;
  expect(header.height).toBeLessThanOrEqual(64);
  const cart = page.getByRole('link', { name: 'Cart, 2 items' });
  await expect(page.locator('.store-cart-count')).toHaveText('2');
  for (const part of [page.locator('.store-logo, .store-name').first(), page.getByRole('searchbox', { name: 'Search products' }), cart]) {
    await expect(part).toBeVisible();
    const box = (await part.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(header.y);
    expect(box.y + box.height).toBeLessThanOrEqual(header.y + header.height + 1);
  }
  // Nothing wider than the phone.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});
