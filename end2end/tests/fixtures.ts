// Shared steps. Every test watches the browser console automatically (no-JavaScript tests
// included: they use the same `page`): a CSP that blocked the hydration script, a panic in the
// WASM or a failed request shows up there and fails the test. A test that expects a request to
// fail says which one with `expectFailure`, and only that request's console line is allowed.
import { test as base, expect, Page, BrowserContext } from '@playwright/test';

export const PASSWORD = 'correct horse battery';

type Failure = { status: number; path: string };
type Fixtures = { consoleErrors: string[]; expectFailure: (status: number, path: string) => void };

export const test = base.extend<Fixtures & { _allowed: Failure[] }>({
  _allowed: async ({}, use) => {
    await use([]);
  },
  expectFailure: async ({ _allowed }, use) => {
    await use((status, path) => {
      _allowed.push({ status, path });
    });
  },
  consoleErrors: [
    async ({ page, _allowed }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const url = m.location().url ?? '';
        const allowed = _allowed.some(
          (f) => m.text().includes(`status of ${f.status}`) && new URL(url, 'http://x').pathname === f.path,
        );
        if (!allowed) errors.push(`console: ${m.text()} (${url})`);
      });
      await use(errors);
      expect(errors, 'the browser console stays clean').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

export function uniqueEmail(tag: string): string {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Waits until the WASM has hydrated the page (frontend sets data-hydrated on <body>). */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

export async function signUp(page: Page, email: string, business = 'Ada Fabrics') {
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Full name').fill('Ada Obi');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Business name').fill(business);
  await page.getByLabel('Currency').selectOption('NGN');
  // The time zone comes from the browser's (UTC unless a test says otherwise: playwright.config.ts).
  await expect(page.getByLabel('Time zone')).not.toHaveValue('');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('I am 18 or older.').check();
  await page.getByLabel(/accept the privacy policy/).check();
  await page.getByRole('button', { name: 'Create my shop' }).click();
  // The same answer whether or not the address has an account: the link in the email decides.
  await expect(page).toHaveURL(/\/signup\/sent$/);
  await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();
  await openLinkFromMailbox(page, email, /signup\/confirm\?token=/);
  await expect(page).toHaveURL(/\/signup\/confirm\?token=/);
  await hydrated(page);
  await page.getByRole('button', { name: 'Open my dashboard' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('shop-name')).toHaveText(business);
}

/** Opens the newest link matching `link` in an email to `to`, from the development mailbox. */
export async function openLinkFromMailbox(page: Page, to: string, link: RegExp) {
  await page.goto('/dev/mailbox');
  const mail = page.locator('li.mail', { hasText: `To ${to}` }).first();
  await expect(mail).toBeVisible();
  await mail.getByRole('link', { name: link }).click();
}

export async function logOut(page: Page) {
  await page.locator('details.account-menu > summary').click();
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await expect(page).not.toHaveURL(/\/dashboard/);
}

export async function logIn(page: Page, email: string, password = PASSWORD) {
  await hydrated(page);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Connects the signed-in merchant's shop through the simulated Embedded Signup popup. */
export async function connectWhatsApp(page: Page) {
  // A full page load: this page carries its own Content-Security-Policy for Facebook's SDK.
  await page.goto('/dashboard/channels/whatsapp');
  await hydrated(page);
  const popupOpened = page.waitForEvent('popup');
  await page.getByRole('button', { name: 'Connect WhatsApp' }).click();
  const popup = await popupOpened;
  await popup.getByRole('button', { name: 'Connect a new number' }).click();
  // The page posts the code and the session event to the server, then reloads.
  await expect(page.getByTestId('wa-status')).toHaveText(/Connected/, { timeout: 15_000 });
}

/** The simulator's id for this shop's number (the customer page lists connected shops). */
export async function numberOf(page: Page, shop: string): Promise<string> {
  const res = await page.request.get('/simulator/graph/_sim/numbers');
  expect(res.ok()).toBeTruthy();
  const numbers: { phone_number_id: string; shop: string }[] = await res.json();
  const mine = numbers.find((n) => n.shop === shop);
  expect(mine, `${shop} is connected to the simulator`).toBeTruthy();
  return mine!.phone_number_id;
}

export function customerNumber(): string {
  return `23480${Math.floor(10_000_000 + Math.random() * 89_999_999)}`;
}

export async function openCustomerPhone(context: BrowserContext, shop: string, from: string) {
  const phone = await context.newPage();
  await phone.goto('/simulator');
  const option = phone.locator('#sim-number option', { hasText: shop });
  await expect(option).toHaveCount(1);
  await phone.locator('#sim-number').selectOption((await option.getAttribute('value'))!);
  await phone.getByLabel('Your WhatsApp number').fill(from);
  await phone.getByLabel('Your WhatsApp number').dispatchEvent('change');
  return phone;
}

/** Turns the shop assistant off on the WhatsApp page: the merchant answers every chat. */
export async function answerMyself(page: Page) {
  await page.goto('/dashboard/channels/whatsapp');
  await hydrated(page);
  const card = page.getByTestId('agent-settings');
  const form = card.locator('form');
  await form.getByLabel('I answer everything myself').check();
  await form.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(card.getByRole('status')).toHaveText('Assistant settings saved.');
}
