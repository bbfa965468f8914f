// The dashboard on a 390 px phone: no page scrolls sideways (a wide table scrolls inside itself)
// and the menu shows that it scrolls.
import { test, expect, hydrated, signUp, uniqueEmail } from './fixtures';

test('dashboard tables scroll within themselves on a phone and the menu shows it scrolls', async ({ page }) => {
  await signUp(page, uniqueEmail('phone'), 'Narrow Screens');
  const slug = `narrow-screens-${Date.now()}`;
  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');
  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill('Hand-woven Aso Oke Ceremonial Wrapper with Gold Thread');
  await page.getByLabel(/^Price/).fill('185000');
  await page.getByLabel('SKU', { exact: true }).fill('ASO-OKE-GOLD-CEREMONIAL-01');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);
  await page.goto(`/s/${slug}/p/hand-woven-aso-oke-ceremonial-wrapper-with-gold-thread`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await hydrated(page);
  await page.getByLabel('Your name').fill('Oluwaseun Adebayo-Williams');
  await page.getByLabel('WhatsApp number').fill('+234 803 555 0142');
  await page.getByLabel('Delivery address').fill('Plot 1415 Adetokunbo Ademola Street, Victoria Island, Lagos');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByTestId('order-total')).toHaveText('₦185,000.00');

  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/dashboard/orders', '/dashboard/customers', '/dashboard/products', '/dashboard']) {
    await page.goto(path);
    await hydrated(page);
    const overflow = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth - window.innerWidth,
      tables: Array.from(document.querySelectorAll('.dash-main table.table')).map((t) => ({
        right: Math.round(t.getBoundingClientRect().right - window.innerWidth),
        scrolls: getComputedStyle(t).overflowX,
      })),
    }));
    expect(overflow.page, `${path}: the page does not scroll sideways`).toBeLessThanOrEqual(0);
    for (const t of overflow.tables) {
      expect(t.right, `${path}: the table ends on the screen`).toBeLessThanOrEqual(0);
      expect(t.scrolls, `${path}: the table scrolls within itself`).toBe('auto');
    }
  }
  // The orders table has the order in it, reachable by scrolling the table.
  await page.goto('/dashboard/orders');
  await hydrated(page);
  await expect(page.getByRole('table').getByText('Oluwaseun Adebayo-Williams')).toBeAttached();

  const menu = await page.getByRole('navigation', { name: 'Dashboard' }).evaluate((nav) => ({
    scrolls: nav.scrollWidth > nav.clientWidth,
    fades: getComputedStyle(nav).maskImage || getComputedStyle(nav).getPropertyValue('-webkit-mask-image'),
  }));
  expect(menu.scrolls, 'the menu is wider than the phone').toBe(true);
  expect(menu.fades, 'its edge fades to show there is more').toContain('linear-gradient');
});
