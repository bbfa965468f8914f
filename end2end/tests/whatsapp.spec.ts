// The WhatsApp channel as a merchant meets it with no Meta account: the simulator stands in for
// Meta (Embedded Signup popup, Graph API, the customer's phone), and everything in between is the
// real product: signed webhooks, jobs, the inbox's live updates, the outbound queue, statuses.
import {
  test, expect, signUp, hydrated, uniqueEmail, connectWhatsApp, numberOf, customerNumber,
  openCustomerPhone, answerMyself,
} from './fixtures';

test('a new merchant connects WhatsApp, a customer writes, the message arrives live and the reply is read', async ({
  page,
  context,
}) => {
  const shop = `Kano Crafts ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('wa'), shop);
  await connectWhatsApp(page);
  // This test is about the merchant answering; the assistant has its own (agent.spec.ts).
  await answerMyself(page);

  // The merchant has the inbox open before the customer writes: the message must appear
  // without a reload.
  await page.goto('/dashboard/inbox');
  await hydrated(page);
  await expect(page.getByTestId('conversation-row')).toHaveCount(0);

  const from = customerNumber();
  const phone = await openCustomerPhone(context, shop, from);
  await phone.getByLabel('Message').fill('Is the blue kaftan available in size M?');
  await phone.getByRole('button', { name: 'Send', exact: true }).click();

  const row = page.getByTestId('conversation-row').filter({ hasText: 'Is the blue kaftan available in size M?' });
  await expect(row).toBeVisible();
  await row.click();
  await expect(page.getByTestId('message').filter({ hasText: 'Is the blue kaftan available in size M?' })).toBeVisible();

  const composer = page.getByTestId('composer');
  await composer.getByLabel('Message').fill('Yes, we have it in M. Shall I reserve one?');
  await composer.getByRole('button', { name: 'Send' }).click();
  const reply = page.getByTestId('message').filter({ hasText: 'Shall I reserve one?' });
  await expect(reply).toBeVisible();

  // The customer's phone shows the reply; opening the chat reads it, Meta (the simulator)
  // reports "read", and the tick in the open thread turns to read by itself.
  await expect(phone.getByTestId('sim-business').filter({ hasText: 'Shall I reserve one?' })).toBeVisible();
  await expect(reply.getByTestId('ticks')).toHaveAttribute('aria-label', /read/i, { timeout: 15_000 });
  await phone.close();
});

test('the composer refuses free text once the 24-hour window has closed', async ({ page }) => {
  const shop = `Old Threads ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('wa-window'), shop);
  await connectWhatsApp(page);

  // A customer whose last message is 25 hours old (Meta's timestamp decides the window).
  const res = await page.request.post('/simulator/graph/_sim/send', {
    data: {
      phone_number_id: await numberOf(page, shop),
      from: customerNumber(),
      name: 'Late Customer',
      kind: 'text',
      text: 'Do you still have the red wrapper?',
      age_hours: 25,
    },
  });
  expect(res.ok()).toBeTruthy();

  await page.goto('/dashboard/inbox');
  await hydrated(page);
  await page.getByTestId('conversation-row').filter({ hasText: 'red wrapper' }).click();
  await expect(page.getByTestId('message').filter({ hasText: 'Do you still have the red wrapper?' })).toBeVisible();
  await expect(page.getByTestId('window')).toContainText(/24-hour window is closed/i);
  await expect(page.getByTestId('composer').getByLabel('Message')).toHaveCount(0);
});
