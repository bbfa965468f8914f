import { test, expect, hydrated, signUp, uniqueEmail } from './fixtures';

// A Shopify export as the merchant downloads it: one product in two sizes, one without options.
const SHOPIFY = [
  'Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src,Status',
  'linen-shirt,Linen Shirt,<p>Cool <em>linen</em>.</p>,Shop,Shirts,summer,TRUE,Size,M,LS-M,shopify,3,15000.00,,,active',
  'linen-shirt,,,,,,,,L,LS-L,shopify,2,16000.00,,,',
  'straw-hat,Straw Hat,Wide brim.,Shop,Hats,,TRUE,Title,Default Title,HAT-1,,,7000.00,,,active',
].join('\n') + '\n';

test('a merchant previews a Shopify export, imports it and sells its variants', async ({ page }) => {
  await signUp(page, uniqueEmail('import'), 'Moving Shop');
  const slug = `moving-shop-${Date.now()}`;
  await page.goto('/dashboard/settings');
  await hydrated(page);
  await page.getByLabel('Storefront address').fill(slug);
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Settings saved.');

  await page.goto('/dashboard/import');
  await page.getByRole('radio', { name: 'Shopify' }).check();
  await page.getByLabel('Product export (.csv)').setInputFiles({ name: 'products_export.csv', mimeType: 'text/csv', buffer: Buffer.from(SHOPIFY) });
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page).toHaveURL(/\/dashboard\/import\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('import-summary')).toContainText('Nothing has been written yet. Importing will create 2 and update 0 products (3 variants)');
  await expect(page.getByRole('cell', { name: /Linen Shirt/ })).toBeVisible();

  await hydrated(page);
  await page.getByRole('button', { name: 'Import 2 products' }).click();
  await expect(page.getByTestId('import-report')).toContainText('Imported: 2 created, 0 updated.');

  await page.goto(`/s/${slug}/p/linen-shirt`);
  await hydrated(page);
  await page.getByLabel('Size').selectOption('L');
  await expect(page.getByTestId('price')).toHaveText('₦16,000.00');
  await expect(page.getByText('Cool linen.')).toBeVisible();
});

test('a catalog CSV saved by Excel on Windows is read from the file, accents intact, and imported', async ({ page }) => {
  await signUp(page, uniqueEmail('csvfile'), 'Excel Shop');
  await page.goto('/dashboard/import');
  await hydrated(page);
  // Windows-1252: é is 0xE9 and the curly quotes 0x93/0x94; as UTF-8 they would be invalid.
  const file = Buffer.concat([
    Buffer.from('sku,title,slug,description,price,compare_at_price,status,track_stock,stock,categories\n', 'latin1'),
    Buffer.from([...Buffer.from('CAF-1,Caf', 'latin1'), 0xe9, ...Buffer.from(' ', 'latin1'), 0x93,
      ...Buffer.from('Lagos', 'latin1'), 0x94, ...Buffer.from(' mug,,Strong.,2500,,active,true,4,Kitchen\n', 'latin1')]),
  ]);
  await page.getByLabel('Choose a CSV file').setInputFiles({ name: 'catalog.csv', mimeType: 'text/csv', buffer: file });
  await expect(page.getByTestId('csv-file-note')).toHaveText('Read catalog.csv (Windows-1252, 1 row). Check it below, then import.');
  await expect(page.getByLabel('Paste the CSV here')).toHaveValue(/CAF-1,Café “Lagos” mug,/);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByText('Imported: 1 created, 0 updated.')).toBeVisible();
  await page.goto('/dashboard/products');
  await expect(page.getByRole('link', { name: 'Café “Lagos” mug' })).toBeVisible();
});
