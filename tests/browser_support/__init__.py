"""Helpers for the browser tests: Debian's Chromium driven by Playwright, and the e-mails Billing wrote."""
