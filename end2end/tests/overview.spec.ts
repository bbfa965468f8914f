import { test, expect, hydrated, signUp, uniqueEmail } from './fixtures';

test('the overview tiles fit a million-naira revenue on a phone and a desktop', async ({ page }) => {
  await signUp(page, uniqueEmail('tiles'), 'Big Ticket');
  const slug = `big-ticket-${Date.now()}`;
  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');
  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill('Gold Agbada');
  await page.getByLabel(/^Price/).fill('625000');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);

  // A shopper orders two: ₦1,250,000.00.
  await page.goto(`/s/${slug}/p/gold-agbada`);
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await hydrated(page);
  await page.getByLabel('Your name').fill('Emeka Obi');
  await page.getByLabel('WhatsApp number').fill('+234 803 555 0199');
  await page.getByLabel('Delivery address').fill('1 Awolowo Road, Ikoyi');
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByTestId('order-total')).toHaveText('₦1,250,000.00');

  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.goto('/dashboard');
    await expect(page.getByTestId('pending')).toHaveText('₦1,250,000.00');
    const overflowing = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.stat-value'))
        .filter((el) => el.scrollWidth > el.clientWidth || el.getBoundingClientRect().right > el.parentElement!.getBoundingClientRect().right)
        .map((el) => el.textContent));
    expect(overflowing, `tiles at ${width} px`).toEqual([]);
    // The amount stays on one line.
    const box = (await page.getByTestId('pending').boundingBox())!;
    const lineHeight = await page.getByTestId('pending').evaluate((el) => parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.3);
    expect(box.height, `one line at ${width} px`).toBeLessThanOrEqual(lineHeight * 1.5);
  }
});

test('a new shop gets a set-up checklist that ticks itself off', async ({ page }) => {
  await signUp(page, uniqueEmail('setup'), 'First Steps');
  await page.goto('/dashboard');
  const setup = page.getByTestId('setup');
  await expect(setup.getByRole('heading', { name: 'Set up your shop' })).toBeVisible();
  await expect(page.getByTestId('setup-progress')).toHaveText('0 of 5 done');
  await expect(setup.getByRole('link', { name: /Check your shop's name and currency \(NGN\)/ })).toBeVisible();
  await setup.getByRole('link', { name: 'Add your first product' }).click();
  await hydrated(page);
  await page.getByLabel('Title').fill('Adire Scarf');
  await page.getByLabel(/^Price/).fill('4500');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);
  await page.goto('/dashboard');
  await expect(page.getByTestId('setup-progress')).toHaveText('1 of 5 done');
  await expect(page.getByTestId('setup-step').filter({ hasText: 'Add your first product' })).toContainText('(done)');
});
