// The shop assistant as a customer meets it on the simulated phone, with no Meta account and no
// language model: it greets, finds products, takes an order question by question, and calls the
// merchant in when asked for a person. Everything between the phone and the dashboard is the
// real product (signed webhooks, the agent's jobs, the outbound queue).
import {
  test, expect, signUp, hydrated, uniqueEmail, connectWhatsApp, customerNumber, openCustomerPhone,
} from './fixtures';
import type { Page } from '@playwright/test';

// Each answer waits for the customer's burst to end (AGENT_GATHER_MS, 2.5 s by default) before
// it is written: a conversation of eight turns needs more than the default 30 s.
test.describe.configure({ timeout: 90_000 });

async function addProduct(page: Page, title: string, price: string) {
  await page.goto('/dashboard/products/new');
  await hydrated(page);
  await page.getByLabel('Title').fill(title);
  await page.getByLabel(/^Price/).fill(price);
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Save product' }).click();
  await expect(page.getByTestId('product-status')).toHaveText('Active');
}

// The card once hydrated into two copies of its form now and then (a resource of its own
// nested in the page's Transition); a few loads in a row show it whole and once.
test('the assistant settings card shows one form on every load and keeps what was saved', async ({ page }) => {
  await signUp(page, uniqueEmail('agent-card'), `Card Shop ${Date.now() % 100000}`);
  await connectWhatsApp(page);
  for (let i = 0; i < 6; i++) {
    await page.goto('/dashboard/channels/whatsapp');
    await hydrated(page);
    const card = page.getByTestId('agent-settings');
    await expect(card.locator('form')).toHaveCount(1);
    await expect(card.getByLabel('The assistant answers first')).toHaveCount(1);
  }
  const card = page.getByTestId('agent-settings');
  await card.getByLabel(/Call me in for orders above/).fill('50000');
  await card.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(card.getByRole('status')).toHaveText('Assistant settings saved.');
  await expect(card.locator('form')).toHaveCount(1);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('agent-settings').getByLabel(/Call me in for orders above/)).toHaveValue('50000.00');

  // When it answers: only outside opening hours, Monday to Saturday, in Lagos.
  const hours = page.getByTestId('agent-hours');
  await hours.getByLabel('When it answers').selectOption('outside_hours');
  await hours.getByLabel('Sat').check();
  await hours.getByLabel('Time zone').fill('Mars/Olympus');
  await page.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(hours.getByRole('alert').filter({ hasText: 'Africa/Lagos' })).toBeVisible();
  await hours.getByLabel('Time zone').fill('Africa/Lagos');
  await page.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(page.getByTestId('agent-settings').getByRole('status')).toHaveText('Assistant settings saved.');
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('agent-hours').getByLabel('When it answers')).toHaveValue('outside_hours');
  await expect(page.getByTestId('agent-hours').getByLabel('Sat')).toBeChecked();
  await expect(page.getByTestId('hours-now')).toContainText('in Africa/Lagos');
});

test('a customer finds a product, orders it in the chat, and the order reaches the dashboard', async ({
  page,
  context,
}) => {
  const shop = `Ibadan Beads ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent'), shop);
  await addProduct(page, 'Coral Bead Necklace', '7,500');
  await connectWhatsApp(page);

  const phone = await openCustomerPhone(context, shop, customerNumber());
  const last = () => phone.getByTestId('sim-business').last();
  const say = async (text: string) => {
    await phone.getByLabel('Message').fill(text);
    await phone.getByRole('button', { name: 'Send', exact: true }).click();
  };
  const tap = (name: string | RegExp) => last().getByTestId('sim-choice').filter({ hasText: name }).click();

  await say('Hello');
  await expect(last()).toContainText('automated assistant');
  await say('coral necklace');
  await expect(last()).toContainText('This is what I found');
  await tap(/Coral Bead Necklace — ₦7,500\.00/);
  await expect(last()).toContainText('₦7,500.00');
  await tap('Order');
  await expect(last()).toContainText('How many');
  await say('2');
  await tap('Ada Customer');
  await expect(last()).toContainText('Where should we deliver');
  await say('14 Ring Road, Ibadan');
  await expect(last()).toContainText('Total: *₦15,000.00*');
  await tap('Confirm');
  await expect(last()).toContainText(/Your order #\d+ is placed/);

  // The merchant sees the order, with the chat's customer, in the dashboard.
  await page.goto('/dashboard/orders');
  await hydrated(page);
  await expect(page.getByRole('link', { name: /Ada Customer/ }).or(page.getByText('Ada Customer')).first()).toBeVisible();
  await expect(page.getByText('₦15,000.00').first()).toBeVisible();
  await phone.close();
});

// With a model configured (the suite's stand-in for an OpenAI-compatible endpoint,
// end2end/fake-llm.mjs), the merchant lets the AI agent answer: it searches the catalog with
// its tools, sends a list priced by the product, prepares an order the customer confirms with a
// button, and hands over when asked for a person.
test('the AI agent finds a product, takes an order and hands over to the merchant', async ({
  page,
  context,
}) => {
  const shop = `Abeokuta Adire ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent-ai'), shop);
  await addProduct(page, 'Coral Bead Necklace', '7,500');
  await connectWhatsApp(page);
  await page.goto('/dashboard/channels/whatsapp');
  await hydrated(page);
  const card = page.getByTestId('agent-settings');
  await card.getByLabel(/The AI agent answers first/).check();
  await card.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(card.getByRole('status')).toHaveText('Assistant settings saved.');

  const phone = await openCustomerPhone(context, shop, customerNumber());
  const last = () => phone.getByTestId('sim-business').last();
  const say = async (text: string) => {
    await phone.getByLabel('Message').fill(text);
    await phone.getByRole('button', { name: 'Send', exact: true }).click();
  };
  await say('Do you have a coral necklace?');
  await expect(last()).toContainText('Here is what we have');
  await expect(last()).toContainText('automated assistant');
  await expect(last().getByTestId('sim-choice').filter({ hasText: /Coral Bead Necklace — ₦7,500\.00/ })).toBeVisible();

  await say('order 2 x Coral Bead Necklace for Ada Customer at 14 Ring Road, Ibadan');
  await expect(last()).toContainText('Total: *₦15,000.00*');
  await last().getByTestId('sim-choice').filter({ hasText: 'Confirm' }).click();
  await expect(last()).toContainText(/Your order #\d+ is placed/);

  await say('Can I talk to a person please?');
  await expect(last()).toContainText('I\'ve asked a person');

  // The merchant sees the order and the conversation waiting for them, with why the AI
  // answered as it did.
  await page.goto('/dashboard/orders');
  await hydrated(page);
  await expect(page.getByText('₦15,000.00').first()).toBeVisible();
  await page.goto('/dashboard/inbox');
  await hydrated(page);
  const row = page.getByTestId('conversation-row').first();
  await expect(row).toContainText('Needs you');
  await row.click();
  const why = page.getByTestId('why').filter({ hasText: 'Written by the AI agent.' });
  await expect(why.filter({ hasText: 'Tool search_products' }).first()).toBeAttached();
  await phone.close();
});

test('a customer asks for a person; the merchant is alerted in the inbox and takes over', async ({
  page,
  context,
}) => {
  const shop = `Jos Leather ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent-handover'), shop);
  await connectWhatsApp(page);

  const phone = await openCustomerPhone(context, shop, customerNumber());
  await phone.getByLabel('Message').fill('Can I talk to a person please?');
  await phone.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(phone.getByTestId('sim-business').last()).toContainText('I\'ve asked a person');

  // The inbox shows the conversation as waiting for the merchant; the WhatsApp page counts it.
  await page.goto('/dashboard/inbox');
  await hydrated(page);
  const row = page.getByTestId('conversation-row').first();
  await expect(row).toContainText('Needs you');
  await row.click();
  const composer = page.getByTestId('composer');
  await composer.getByLabel('Message').fill('Hi, this is the owner. How can I help?');
  await composer.getByRole('button', { name: 'Send' }).click();
  await expect(phone.getByTestId('sim-business').last()).toContainText('this is the owner');

  // The assistant stays quiet while the merchant has the chat.
  await phone.getByLabel('Message').fill('I need a belt');
  await phone.getByRole('button', { name: 'Send', exact: true }).click();
  await page.waitForTimeout(4_000);
  await expect(phone.getByTestId('sim-business').last()).toContainText('this is the owner');
  await phone.close();
});

test('an open dashboard raises a browser notification when a customer asks for a person', async ({
  page,
  context,
}) => {
  // Records what the page asks the browser to show (and still shows it).
  await context.addInitScript(() => {
    const w = window as any;
    w.__notifications = [];
    const Real = w.Notification;
    if (!Real) return;
    class Recording extends Real {
      constructor(title: string, options?: NotificationOptions) {
        w.__notifications.push({ title, body: options?.body });
        super(title, options);
      }
    }
    Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
    Object.defineProperty(Recording, 'requestPermission', {
      value: (...args: unknown[]) => Real.requestPermission(...args),
    });
    w.Notification = Recording;
  });
  const shop = `Kano Textiles ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent-notify'), shop);
  await connectWhatsApp(page);

  // Not allowed yet: the header offers to ask; once allowed, it does not.
  await page.goto('/dashboard/products');
  await hydrated(page);
  await expect(page.getByTestId('alerts-ask')).toBeVisible();
  await context.grantPermissions(['notifications']);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('alerts-ask')).toHaveCount(0);

  const phone = await openCustomerPhone(context, shop, customerNumber());
  await phone.getByLabel('Message').fill('I want to talk to a person');
  await phone.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(phone.getByTestId('sim-business').last()).toContainText('I\'ve asked a person');
  await expect
    .poll(() => page.evaluate(() => (window as any).__notifications))
    .toEqual([
      {
        title: 'A customer is waiting for you',
        body: 'A customer asked for a person. Open the chat to answer.',
      },
    ]);
  await phone.close();
});

test('the merchant tries the agent in the dashboard: answers, their buttons, why, and starting over', async ({
  page,
}) => {
  const shop = `Kano Spices ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent-try'), shop);
  await page.goto('/dashboard/try');
  await hydrated(page);
  await expect(page.getByTestId('try-blocked')).toContainText('Connect WhatsApp first');
  await addProduct(page, 'Suya Pepper Mix', '1,200');
  await connectWhatsApp(page);

  await page.getByRole('link', { name: 'Try your agent' }).click();
  await expect(page).toHaveURL(/\/dashboard\/try$/);
  const message = page.getByLabel('Message');
  const send = async (text: string) => {
    await message.fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
  };
  const last = () => page.getByTestId('try-message').last();

  await send('Hello');
  await expect(message).toHaveValue('');
  await expect(page.getByTestId('try-message').first()).toContainText('Hello');
  await expect(last()).toContainText('automated assistant');
  await expect(last().getByTestId('why')).toContainText('shop assistant');

  await send('suya pepper');
  await expect(last()).toContainText('This is what I found');
  await last().getByTestId('try-choice').filter({ hasText: /Suya Pepper Mix — ₦1,200\.00/ }).click();
  await expect(last()).toContainText('₦1,200.00');
  await expect(last().getByTestId('try-choice').filter({ hasText: 'Order' })).toBeVisible();

  // The test conversation is a real one: the inbox has it, with the test customer.
  await expect(page.getByRole('link', { name: 'See it in the inbox' })).toBeVisible();

  await page.getByTestId('start-over').click();
  await expect(page.getByTestId('try-message')).toHaveCount(0);
  await send('Hi again');
  await expect(last()).toContainText('automated assistant');
});

// The agent answers only while the shop is open; a customer who writes while it is closed gets
// the merchant's away message, once.
test('a customer who writes while the shop is closed gets the away message once', async ({ page, context }) => {
  const shop = `Warri Wax ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('agent-away'), shop);
  await connectWhatsApp(page);
  await page.goto('/dashboard/channels/whatsapp');
  await hydrated(page);
  const hours = page.getByTestId('agent-hours');
  await hours.getByLabel('When it answers').selectOption('during_hours');
  for (const day of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']) await hours.getByLabel(day, { exact: true }).check();
  // Open for one minute, twelve hours from now (UTC): closed while the test runs.
  const hour = String((new Date().getUTCHours() + 12) % 24).padStart(2, '0');
  await hours.getByLabel('Opens').fill(`${hour}:00`);
  await hours.getByLabel('Closes').fill(`${hour}:01`);
  await hours.getByLabel('Time zone').fill('UTC');
  const away = 'Thanks for writing! We are closed now and reply when we open.';
  await hours.getByLabel('Away message').fill(away);
  await page.getByRole('button', { name: 'Save assistant settings' }).click();
  await expect(page.getByTestId('agent-settings').getByRole('status')).toHaveText('Assistant settings saved.');
  await expect(page.getByTestId('hours-now')).toContainText('in UTC');

  const phone = await openCustomerPhone(context, shop, customerNumber());
  const say = async (text: string) => {
    await phone.getByLabel('Message').fill(text);
    await phone.getByRole('button', { name: 'Send', exact: true }).click();
  };
  await say('Hello, are you open?');
  await expect(phone.getByTestId('sim-business').last()).toContainText(away);
  await say('Do you sell wax prints?');
  // Still one answer: the away message is sent once every 12 hours, and nothing else answers.
  await page.waitForTimeout(4_000);
  await expect(phone.getByTestId('sim-business')).toHaveCount(1);
  await phone.close();
});
