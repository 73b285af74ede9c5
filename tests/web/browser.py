#!/usr/bin/python3
"""Drives the web pages in headless Chromium (python3-selenium): claims a
fresh box with the setup code from the server's log, runs the setup
wizard, then signs in as the new admin and creates a user; then sends and
receives a message as that user with smtplib and imaplib. Run by
tests/web.rs against the real server.

Usage: browser.py --base URL --shots DIR --submission PORT --imap PORT --log FILE
Exits non-zero, with the reason, on the first step that fails.
"""

import argparse
import email.message
import imaplib
import os
import re
import smtplib
import ssl
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ADMIN = "boss@example.test"
ADMIN_PASSWORD = "a fine long admin password"
USER = "carol@example.test"
USER_PASSWORD = "a long and fine password"


class Pages:
    def __init__(self, base, shots):
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--ignore-certificate-errors", "--window-size=1100,900",
                  "--disable-gpu", "--no-first-run"):
            opts.add_argument(a)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.driver.set_page_load_timeout(30)
        self.base = base.rstrip("/")
        self.shots = shots
        self.n = 0
        os.makedirs(shots, exist_ok=True)

    def shot(self, name):
        self.n += 1
        self.driver.save_screenshot(os.path.join(self.shots, f"{self.n:02d}-{name}.png"))

    def open(self, path, name):
        self.driver.get(self.base + path)
        self.shot(name)

    def fill(self, form_css, fields, name, button="button[type=submit]"):
        form = self.driver.find_element(By.CSS_SELECTOR, form_css)
        for field, value in fields.items():
            el = form.find_element(By.NAME, field)
            el.clear()
            el.send_keys(value)
        form.find_element(By.CSS_SELECTOR, button).click()
        self.shot(name)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def expect(self, what, step):
        body = self.text()
        if what not in body:
            fail(f"{step}: expected {what!r} on {self.driver.current_url}:\n{body}")

    def quit(self):
        self.driver.quit()


def fail(msg):
    print("FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def send_and_receive(host, submission, imap_port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    subject = f"hello from the browser test {time.time()}"
    msg = email.message.EmailMessage()
    msg["From"] = USER
    msg["To"] = USER
    msg["Subject"] = subject
    msg.set_content("Sent as the account made in the web pages.\n")
    with smtplib.SMTP(host, submission, timeout=20) as s:
        s.starttls(context=ctx)
        s.login(USER, USER_PASSWORD)
        s.send_message(msg)
    deadline = time.time() + 20
    with imaplib.IMAP4(host, imap_port, timeout=20) as m:
        m.starttls(ssl_context=ctx)
        m.login(USER, USER_PASSWORD)
        while time.time() < deadline:
            m.select("INBOX")
            typ, data = m.search(None, "SUBJECT", f'"{subject}"')
            if typ == "OK" and data[0].split():
                print("received:", subject)
                return
            time.sleep(0.3)
    fail("the message did not arrive in INBOX")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--submission", type=int, required=True)
    p.add_argument("--imap", type=int, required=True)
    p.add_argument("--log", required=True)
    a = p.parse_args()

    found = re.search(r"setup code ([A-Z0-9-]+)", open(a.log).read())
    if not found:
        fail("no setup code in the server's log")
    pages = Pages(a.base, a.shots)
    try:
        # Any page of an unclaimed box leads to the wizard.
        pages.open("/", "setup-code")
        pages.expect("Setup code", "unclaimed box")
        pages.fill("form.box", {"code": "WRONG-CODE-HERE"}, "setup-code-wrong")
        pages.expect("not the setup code", "a wrong code")
        pages.fill("form.box", {"code": found.group(1)}, "wizard-1-hostname")
        pages.expect("Step 1 of 6", "the right code")
        nxt = "button[value=next]"
        pages.fill("form.box", {"hostname": "not a host name"}, "wizard-1-error", nxt)
        pages.expect("Step 1 of 6", "a bad host name stays on its step")
        pages.fill("form.box", {"hostname": "mail.example.test"}, "wizard-2-domains", nxt)
        pages.fill("form.box", {"domains": "example.test"}, "wizard-3-admin", nxt)
        pages.fill("form.box", {"admin.address": ADMIN, "admin.password": ADMIN_PASSWORD,
                                "admin.confirm": ADMIN_PASSWORD}, "wizard-4-staff", nxt)
        pages.fill("form.box", {"staff": "dave@example.test"}, "wizard-5-relay", nxt)
        pages.fill("form.box", {}, "wizard-6-review", nxt)
        pages.expect("Step 6 of 6", "review")
        pages.fill("form.box", {}, "wizard-done", "button[value=apply]")
        pages.expect("DNS records to publish", "the plan applied")
        pages.expect("dave@example.test", "the staff password shown")
        pages.driver.find_element(By.LINK_TEXT, "Sign in").click()
        pages.shot("login")
        pages.fill("form.box", {"username": ADMIN, "password": ADMIN_PASSWORD}, "dashboard")
        pages.expect("Dashboard", "sign in")
        pages.open("/domains", "domains")
        pages.fill("form.box", {"name": "shop.example"}, "domain-added")
        pages.expect("added domain shop.example", "add a domain")
        pages.open("/users", "users")
        pages.fill("form.box", {"address": USER, "password": USER_PASSWORD}, "user-added")
        pages.expect("added user " + USER, "add a user")
        pages.open("/aliases", "aliases")
        pages.fill("form.box", {"alias": "@shop.example", "targets": USER}, "alias-added")
        pages.expect("added alias @shop.example", "add a catch-all")
        for path, name in (("/queue", "queue"), ("/account", "account")):
            pages.open(path, name)
        pages.driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
        pages.shot("signed-out")
        pages.expect("Sign in", "sign out")
        # The new user signs in and sees only their own pages.
        pages.fill("form.box", {"username": USER, "password": USER_PASSWORD}, "staff-account")
        pages.expect("My account", "staff sign in")
        if "Domains" in pages.text():
            fail("a staff account sees the admin pages")
    finally:
        pages.quit()
    send_and_receive("127.0.0.1", a.submission, a.imap)
    print("ok")


if __name__ == "__main__":
    main()
