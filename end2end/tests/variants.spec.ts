import { test, expect, hydrated, signUp, uniqueEmail } from './fixtures';

// The seeded demo shop sells an Adire Kaftan in Size S, M, L × Colour Indigo, Rust: L costs
// ₦24,000 (the others ₦22,000), Indigo / S is sold out and Rust / L is not made.
const KAFTAN = '/s/lagos-looms/p/adire-kaftan';

test('with JavaScript the price, stock and address follow the chosen variant', async ({ page }) => {
  await page.goto(KAFTAN);
  await hydrated(page);
  // Indigo / S is sold out, so the first available combination is chosen.
  await expect(page.getByLabel('Size')).toHaveValue('S');
  await expect(page.getByLabel('Colour')).toHaveValue('Rust');
  await expect(page.getByTestId('price')).toHaveText('₦22,000.00');

  await page.getByLabel('Colour').selectOption('Indigo');
  await expect(page.getByTestId('stock')).toHaveText('Sold out');
  await expect(page.getByRole('button', { name: 'Add to cart' })).toBeDisabled();
  // Marked, not hidden: with Size L, Rust is offered as unavailable.
  await page.getByLabel('Size').selectOption('L');
  await expect(page.getByTestId('price')).toHaveText('₦24,000.00');
  await expect(page.getByTestId('stock')).toHaveText('In stock');
  await expect(page.getByLabel('Colour').locator('option', { hasText: 'Rust (unavailable)' })).toHaveCount(1);
  await expect(page).toHaveURL(/\?variant=[0-9a-f-]{36}$/);

  // The address is shareable: opened again, it shows the same choice.
  const shared = page.url();
  await page.goto(shared);
  await expect(page.getByLabel('Size')).toHaveValue('L');
  await expect(page.getByTestId('price')).toHaveText('₦24,000.00');

  await hydrated(page);
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page).toHaveURL(/\/s\/lagos-looms\/cart$/);
  await expect(page.getByRole('link', { name: 'Adire Kaftan (L / Indigo)' })).toBeVisible();
  await expect(page.getByLabel('Quantity of Adire Kaftan (L / Indigo)')).toHaveValue('2');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a shopper chooses size and colour in the form and orders that variant', async ({ page }) => {
    await page.goto(KAFTAN);
    await page.getByLabel('Size').selectOption('M');
    await page.getByLabel('Colour').selectOption('Indigo');
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await expect(page).toHaveURL(/\/s\/lagos-looms\/cart$/);
    await expect(page.getByTestId('cart-total')).toHaveText('₦22,000.00');
    await expect(page.getByRole('link', { name: 'Adire Kaftan (M / Indigo)' })).toBeVisible();

    // A combination that is not made sends the shopper back with a reason.
    await page.goto(KAFTAN);
    await page.getByLabel('Size').selectOption('L');
    await page.getByLabel('Colour').selectOption('Rust');
    await page.getByRole('button', { name: 'Add to cart' }).click();
    await expect(page.getByRole('alert')).toHaveText('That combination is not available. Choose another.');

    // Every option and its price is listed, each with its own address.
    await page.getByRole('link', { name: 'L / Indigo' }).click();
    await expect(page.getByTestId('price')).toHaveText('₦24,000.00');
  });
});

test('a merchant adds options, fills the variant table and sells a variant', async ({ page }) => {
  await signUp(page, uniqueEmail('variants'), 'Cap Makers');
  const slug = `cap-makers-${Date.now()}`;
  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');

  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill('Woven Cap');
  await page.getByLabel(/^Price/).fill('4000');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);
  await hydrated(page);

  await page.getByLabel('Option 1 name').fill('Size');
  await page.getByLabel('Option 1 values').fill('M, L, XL');
  await page.getByRole('button', { name: 'Save options' }).click();
  await expect(page.getByText('Options saved; the variants below follow them.')).toBeVisible();
  const table = page.locator('table.variant-table');
  await expect(table.locator('tbody tr')).toHaveCount(3);

  await page.getByLabel('Set every stock to').fill('5');
  await page.getByLabel('Price of XL', { exact: true }).fill('4500');
  await page.getByLabel('Sell of M', { exact: true }).uncheck();
  await page.getByRole('button', { name: 'Save variants' }).click();
  await expect(page.getByText('Variants saved.')).toBeVisible();
  await expect(page.getByLabel('Stock of L', { exact: true })).toHaveValue('5');

  await page.goto(`/s/${slug}/p/woven-cap`);
  await hydrated(page);
  await expect(page.getByLabel('Size').locator('option', { hasText: 'M (unavailable)' })).toHaveCount(1);
  await page.getByLabel('Size').selectOption('XL');
  await expect(page.getByTestId('price')).toHaveText('₦4,500.00');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('₦4,500.00');
});
