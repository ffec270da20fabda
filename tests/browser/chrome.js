// chrome.js - launch Debian's Chromium (no browser download) through
// playwright-core. Playwright gives every launch() a fresh temporary
// --user-data-dir of its own and removes it on close.
'use strict';
const { chromium } = require('playwright-core');

const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

async function launch() {
  return chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ARGS, timeout: 30000 });
}

module.exports = { launch, EXECUTABLE, ARGS };
