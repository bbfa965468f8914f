import { test, expect, signUp, logOut, logIn, hydrated, uniqueEmail, PASSWORD } from './fixtures';

test('a new merchant signs up, stays signed in, logs out and back in', async ({ page, consoleErrors }) => {
  const email = uniqueEmail('ada');
  await signUp(page, email);

  await page.reload();
  await expect(page.getByTestId('shop-name')).toHaveText('Ada Fabrics');

  await logOut(page);
  await page.goto('/dashboard/account');
  await expect(page).toHaveURL(/\/login\?next=\/dashboard\/account$/);

  await logIn(page, email);
  await expect(page).toHaveURL(/\/dashboard\/account$/);
  await expect(page.getByRole('heading', { name: 'Account' })).toBeVisible();
  void consoleErrors;
});

test('signup errors are shown beside each field', async ({ page, consoleErrors }) => {
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Email', { exact: true }).fill('not-an-email');
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create my shop' }).click();

  await expect(page.locator('#f-full_name-error')).toHaveText('Enter your full name.');
  await expect(page.locator('#f-email-error')).toHaveText('Enter an email address like name@example.com.');
  await expect(page.locator('#f-password-error')).toContainText('at least 10 characters');
  await expect(page.locator('#f-adult-error')).toHaveText('You must be 18 or older to use Bizmaat.');
  await expect(page.locator('#f-accept_policy-error')).not.toBeEmpty();
  await expect(page.getByLabel('Email', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page).toHaveURL(/\/signup/);

  // 4xx answers to server functions are expected here; only they may reach the console.
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !/status of 422/.test(e)));
});

test('a forgotten password is reset through the development mailbox', async ({ page, consoleErrors }) => {
  const email = uniqueEmail('reset');
  await signUp(page, email, 'Reset Wares');
  await logOut(page);

  await page.goto('/forgot-password');
  await hydrated(page);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await expect(page.getByRole('status')).toContainText('a reset link is on its way');

  await page.goto('/dev/mailbox');
  const mail = page.locator('li.mail', { hasText: email }).first();
  await expect(mail).toBeVisible();
  const link = mail.getByRole('link', { name: /reset-password\?token=/ });
  await link.click();
  await expect(page).toHaveURL(/\/reset-password\?token=/);

  await hydrated(page);
  const newPassword = 'a brand new sentence';
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await expect(page).toHaveURL(/\/login\?reset=done/);
  await expect(page.getByRole('status')).toContainText('Your password is changed');

  await logIn(page, email, PASSWORD);
  await expect(page.locator('#f-password-error')).toContainText("do not match an account");
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !/status of 422/.test(e)));

  await page.goto('/login');
  await logIn(page, email, newPassword);
  await expect(page).toHaveURL(/\/dashboard$/);
});
