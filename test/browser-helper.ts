// Shared by the browser tests: Debian's headless Chromium through playwright-core, and the
// screenshots UPDATE_SCREENSHOTS=1 writes to docs/screenshots/ for the README.
import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'

interface Teardown { teardown (fn: () => unknown): void }

/** A headless Chromium, closed at the test's end. */
export async function launchChromium (t: Teardown): Promise<Browser> {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args })
  t.teardown(() => browser.close())
  return browser
}

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? new URL('../docs/screenshots/', import.meta.url) : null

/** Saves the whole page as docs/screenshots/<name>.png when UPDATE_SCREENSHOTS=1. */
export async function shot (page: Page, name: string): Promise<void> {
  if (!SHOTS) return
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true })
}
