"""Where Debian's Chromium and its driver live, and how long a page may take."""

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGE_TIMEOUT_S = 60.0
