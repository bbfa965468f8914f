import { test, expect, signUp, hydrated, uniqueEmail } from './fixtures';

// A 32×32 blue PNG, made for this test.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAKklEQVR4nGOQi1pAU8QwasGoBaMWjFowasGoBaMWjFowasGoBaMWDBULAJHrYD2B/r5iAAAAAElFTkSuQmCC',
  'base64',
);

test('a merchant sets up the shop, adds a product with an image, and sees it in the storefront', async ({ page }) => {
  await signUp(page, uniqueEmail('shop'), 'Blue Threads');
  const slug = `blue-threads-${Date.now()}`;

  // A new shop's empty lists say what to do next, not "nothing matches".
  await page.goto('/dashboard/products');
  await expect(page.getByTestId('products-empty')).toContainText('Your shop has no products yet.');
  await expect(page.getByTestId('products-empty').getByRole('link', { name: 'Add your first product' })).toHaveAttribute('href', '/dashboard/products/new');
  await page.goto('/dashboard/products?q=zzz');
  await expect(page.getByTestId('products-empty')).toContainText('No products match these filters.');
  await page.goto('/dashboard/orders');
  await expect(page.getByTestId('orders-empty')).toContainText('No orders yet.');

  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByLabel('WhatsApp number').fill('+234 801 234 5678');
  await page.getByLabel('Description').fill('Indigo cloth, dyed by hand.');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');
  await expect(page.getByTestId('storefront-link')).toHaveAttribute('href', `/s/${slug}`);

  await page.goto('/dashboard/categories');
  await hydrated(page);
  await page.getByLabel('New category').fill('Scarves');
  await page.getByRole('button', { name: 'Add category' }).click();
  await expect(page.getByLabel('Name')).toHaveValue('Scarves');

  await page.goto('/dashboard/products/new');
  await hydrated(page);
  // The form names the shop's currency and says what a draft is.
  await expect(page.getByLabel('Price (NGN)')).toBeVisible();
  await expect(page.getByLabel('Status')).toHaveAccessibleDescription(/Drafts are kept here/);
  // Saved without a title: the error is shown and the field focused.
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page.getByLabel('Title')).toBeFocused();
  await expect(page.getByLabel('Title')).toHaveAttribute('aria-invalid', 'true');
  await page.getByLabel('Title').fill('Indigo Stripe Scarf');
  await page.getByLabel(/^Price/).fill('12,500');
  // A stock number means the merchant counts it.
  const track = page.getByLabel('Track stock (sold out at 0)');
  await expect(track).not.toBeChecked();
  await page.getByLabel('Stock', { exact: true }).fill('7');
  await expect(track).toBeChecked();
  await page.getByLabel('Status').selectOption('active');
  await page.getByLabel('Scarves').check();
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);
  await expect(page.getByTestId('product-status')).toHaveText('Active');

  await page.getByLabel('Add an image').setInputFiles({ name: 'scarf.png', mimeType: 'image/png', buffer: PNG });
  await page.getByLabel(/Describe the image/).fill('Blue striped scarf');
  await page.getByRole('button', { name: 'Upload image' }).click();
  await expect(page).toHaveURL(/uploaded=1/);
  await expect(page.getByRole('status').filter({ hasText: 'Image uploaded.' })).toBeVisible();
  await expect(page.locator('.image-list img')).toHaveCount(1);

  await page.goto(`/s/${slug}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Blue Threads');
  const card = page.locator('.product-card', { hasText: 'Indigo Stripe Scarf' });
  await expect(card).toContainText('₦12,500.00');
  await card.getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/s/${slug}/p/indigo-stripe-scarf$`));
  await expect(page.getByTestId('price')).toHaveText('₦12,500.00');
  await expect(page.getByRole('img', { name: 'Blue striped scarf' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Ask on WhatsApp' })).toHaveAttribute('href', /^https:\/\/wa\.me\/2348012345678\?text=.*Indigo%20Stripe%20Scarf/);

  // Edit the price in the dashboard; the storefront shows the new one at once.
  // Client-side navigation: the list is fetched by the hydrated app this time.
  await page.goto('/dashboard');
  await hydrated(page);
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Products' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products$/);
  await page.getByRole('link', { name: 'Indigo Stripe Scarf' }).click();
  await hydrated(page);
  await page.getByLabel(/^Price/).fill('9999');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page.getByRole('status')).toHaveText('Product saved.');
  await page.goto(`/s/${slug}/p/indigo-stripe-scarf`);
  await expect(page.getByTestId('price')).toHaveText('₦9,999.00');

  // Deleting asks first, with the answer focused; "Keep" changes nothing.
  await page.goto('/dashboard/products');
  await hydrated(page);
  await page.getByRole('link', { name: 'Indigo Stripe Scarf' }).click();
  await hydrated(page);
  await page.getByRole('button', { name: 'Delete product' }).click();
  const ask = page.getByRole('group', { name: /Delete this product\?/ });
  await expect(ask).toBeVisible();
  await expect(ask.getByRole('button', { name: 'Yes, delete it' })).toBeFocused();
  await ask.getByRole('button', { name: 'Keep' }).click();
  await expect(ask).toBeHidden();
  await page.getByRole('button', { name: 'Delete product' }).click();
  await page.getByRole('button', { name: 'Yes, delete it' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products$/);
  await expect(page.getByTestId('products-empty')).toContainText('Your shop has no products yet.');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a shopper without JavaScript reads the product page and its price', async ({ page }) => {
    // The demo shop is seeded by the server under test (SEED_DEMO=true).
    const res = await page.goto('/s/lagos-looms');
    expect(res?.status()).toBe(200);
    await expect(page).toHaveTitle('Lagos Looms');
    // Through its category: the shop has more products than one page holds.
    await page.getByRole('navigation', { name: 'Categories' }).getByRole('link', { name: 'Adire', exact: true }).click();
    await expect(page).toHaveURL(/\/s\/lagos-looms\/c\/adire$/);
    await page.getByRole('link', { name: /Indigo Adire Scarf/ }).click();
    await expect(page).toHaveURL(/\/s\/lagos-looms\/p\/indigo-adire-scarf$/);
    await expect(page).toHaveTitle('Indigo Adire Scarf · Lagos Looms');
    await expect(page.getByTestId('price')).toHaveText('₦12,500.00');
    await expect(page.getByText('In stock')).toBeVisible();
    // Search works as a plain GET form.
    await page.getByLabel('Search products').fill('raffia');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(page.getByRole('link', { name: /Woven Raffia Basket/ })).toBeVisible();
  });
});

test('uploading a logo keeps the shop settings being typed', async ({ page }) => {
  await signUp(page, uniqueEmail('logo'), 'Logo Keepers');
  await page.goto('/dashboard/settings');
  await hydrated(page);
  // Typed, not saved yet.
  await page.getByLabel('Description').fill('Hand-dyed fabrics from Osogbo, shipped nationwide.');
  await page.getByLabel('Upload a logo').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: PNG });
  await page.getByRole('button', { name: 'Upload image' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Logo uploaded.' })).toBeVisible();
  await expect(page.locator('img.logo-preview')).toBeVisible();
  await expect(page).not.toHaveURL(/uploaded=1/);
  await expect(page.getByLabel('Description')).toHaveValue('Hand-dyed fabrics from Osogbo, shipped nationwide.');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Settings saved.' })).toBeVisible();
  await page.reload();
  await expect(page.getByLabel('Description')).toHaveValue('Hand-dyed fabrics from Osogbo, shipped nationwide.');
  await expect(page.locator('img.logo-preview')).toBeVisible();
});

test('images chosen while creating a product are uploaded when it is saved', async ({ page }) => {
  await signUp(page, uniqueEmail('newimages'), 'Kente Corner');
  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill('Kente Stole');
  await page.getByLabel(/^Price/).fill('8000');
  await page.getByLabel('Images (optional)').setInputFiles([
    { name: 'stole-front.png', mimeType: 'image/png', buffer: PNG },
    { name: 'stole-back.png', mimeType: 'image/png', buffer: PNG },
  ]);
  await expect(page.getByTestId('new-images')).toHaveText('2 images to upload when you save: stole-front.png, stole-back.png');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page).toHaveURL(/\/dashboard\/products\/[0-9a-f-]{36}\?created=1$/);
  await expect(page.getByTestId('new-images-status')).toHaveText('2 images uploaded.');
  await expect(page.locator('.image-list img')).toHaveCount(2);
  // Stored, not only shown: a fresh load has them, and nothing is uploaded twice.
  await page.reload();
  await hydrated(page);
  await expect(page.locator('.image-list img')).toHaveCount(2);
  await expect(page.getByTestId('new-images-status')).toHaveCount(0);
});
