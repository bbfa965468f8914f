// End-to-end tests in Debian's Chromium against the release build. `make e2e` sets SERVER_BIN,
// E2E_DATABASE_URL and E2E_PORT; Playwright starts the server, waits for /readyz, then stops it.
// Playwright never downloads a browser here: the executable is Debian's.
import { defineConfig } from '@playwright/test';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const port = process.env.E2E_PORT ?? '3100';
const baseURL = `http://127.0.0.1:${port}`;
// The stand-in for an OpenAI-compatible model (end2end/fake-llm.mjs): shops choose the AI
// agent in their settings; new conversations still start with the shop assistant.
const llmPort = String(Number(port) + 90);

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  forbidOnly: true,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    // Signup fills the shop's time zone from the browser's: the same one on every machine.
    timezoneId: 'UTC',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: [{
    command: 'node end2end/fake-llm.mjs',
    cwd: root,
    url: `http://127.0.0.1:${llmPort}/health`,
    timeout: 20_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
    env: { FAKE_LLM_PORT: llmPort },
  }, {
    command: process.env.SERVER_BIN ?? `${root}/target/release/server`,
    cwd: root,
    url: `${baseURL}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      APP_ENV: 'development',
      DATABASE_URL: process.env.E2E_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bizmaat_e2e',
      HOST: '127.0.0.1',
      PORT: port,
      PUBLIC_URL: baseURL,
      SEED_DEMO: 'true',
      // Signup links and reset links are read from it, as a developer would.
      DEV_MAILBOX: 'true',
      LEPTOS_SITE_ROOT: path.join(root, 'target/site'),
      LEPTOS_OUTPUT_NAME: 'bizmaat',
      LEPTOS_HASH_FILES: 'true',
      // The suite signs up many merchants from one address.
      RATE_LIMIT_SIGNUP_PER_HOUR: '1000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '1000',
      RATE_LIMIT_PASSWORD_RESET_PER_HOUR: '1000',
      RATE_LIMIT_CHECKOUT_PER_HOUR: '1000',
      RUST_LOG: 'warn',
      LLM_BASE_URL: `http://127.0.0.1:${llmPort}/v1`,
      LLM_MODEL: 'e2e-fake',
      AGENT_DEFAULT_MODE: 'assistant',
    },
  }],
});
