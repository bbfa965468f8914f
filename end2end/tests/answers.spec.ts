// Saved answers and learning from the merchant, as a merchant and a customer meet them: the
// merchant writes an answer on its page, the customer gets it on the simulated phone; an
// automated answer corrected in the inbox becomes the answer from then on.
import {
  test, expect, signUp, hydrated, uniqueEmail, connectWhatsApp, customerNumber, openCustomerPhone,
} from './fixtures';

// Each answer waits for the customer's burst to end (AGENT_GATHER_MS, 2.5 s by default).
test.describe.configure({ timeout: 90_000 });

test('a saved answer is written, checked, edited, and given to a customer', async ({
  page,
  context,
}) => {
  const shop = `Kano Leather ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('answers'), shop);
  await connectWhatsApp(page);

  await page.goto('/dashboard/answers');
  await hydrated(page);
  await expect(page.getByTestId('faq-empty')).toBeVisible();
  // Nothing written: each field says what it needs.
  await page.getByRole('button', { name: 'Save answer' }).click();
  await expect(page.getByText('Write the question as a customer would ask it.')).toBeVisible();
  await expect(page.getByText('Write the answer the agent should give.')).toBeVisible();

  await page.getByLabel('When a customer asks').fill('Do you deliver to Abuja?');
  await page.getByLabel('The agent answers').fill('Yes, in 3 days.');
  await page.getByRole('button', { name: 'Save answer' }).click();
  await expect(page.getByRole('status')).toHaveText('Answer saved.');
  const item = page.getByTestId('faq-item');
  await expect(item).toHaveCount(1);
  await expect(item).toContainText('Do you deliver to Abuja?');
  await expect(item).toContainText('Written here');

  await item.getByText('Edit').click();
  await item.getByLabel('The agent answers').fill('Yes, in 2 days, delivery included.');
  await item.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('faq-item')).toContainText('Yes, in 2 days, delivery included.');
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('faq-item')).toHaveCount(1);

  const phone = await openCustomerPhone(context, shop, customerNumber());
  await phone.getByLabel('Message').fill('do you deliver to abuja');
  await phone.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(phone.getByTestId('sim-business').last()).toContainText('Yes, in 2 days, delivery included.');
  await phone.close();

  await page.getByTestId('faq-item').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('faq-empty')).toBeVisible();
});

test('an automated answer corrected in the inbox is the answer the customer gets next time', async ({
  page,
  context,
}) => {
  const shop = `Aba Shoes ${Date.now() % 100000}`;
  await signUp(page, uniqueEmail('answers-learn'), shop);
  await connectWhatsApp(page);

  const phone = await openCustomerPhone(context, shop, customerNumber());
  const ask = async (text: string) => {
    const before = await phone.getByTestId('sim-business').count();
    await phone.getByLabel('Message').fill(text);
    await phone.getByRole('button', { name: 'Send', exact: true }).click();
    await expect(phone.getByTestId('sim-business')).toHaveCount(before + 1);
  };
  await ask('Can I pay on delivery?');
  await expect(phone.getByTestId('sim-business').last()).not.toContainText('cash');

  await page.goto('/dashboard/inbox');
  await hydrated(page);
  await page.getByTestId('conversation-row').first().click();
  const answer = page.getByTestId('message').filter({ has: page.getByTestId('learn') }).last();
  await answer.getByText('Wrong answer? Write the right one').click();
  await expect(answer.getByLabel('When a customer asks')).toHaveValue('Can I pay on delivery?');
  await answer.getByLabel('The agent answers').fill('Yes: cash or bank transfer when it arrives.');
  await answer.getByRole('button', { name: 'Save answer' }).click();
  await expect(page.getByTestId('saved-answer').first()).toContainText('the agent answers this from now on');

  await ask('can i pay on delivery');
  await expect(phone.getByTestId('sim-business').last()).toContainText('Yes: cash or bank transfer when it arrives.');
  await phone.close();

  await page.goto('/dashboard/answers');
  await hydrated(page);
  await expect(page.getByTestId('faq-item')).toContainText('Your correction of an automated answer');
});
