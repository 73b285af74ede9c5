#!/usr/bin/env python3
"""Writes a labelled corpus of synthetic office mail for the Bayes filter.

    scripts/corpus.py [--out DIR] [--ham N] [--spam N] [--seed S]

Writes DIR/ham/NNNNN.eml and DIR/spam/NNNNN.eml (defaults: tests/data/corpus,
300 ham, 250 spam, seed 1). Deterministic for a given seed and sizes. The
messages are made up from templates: office ham (meetings, supplier
invoices, project threads, HR, IT notices, newsletters, personal notes, some
French and German) and spam (pharma, lottery, phishing for banks, parcels
and mailbox quotas, crypto, SEO, dating, fake invoices), with vocabulary
shared between the classes. Some are multipart/alternative with HTML, some
base64 or quoted-printable.
"""

import argparse
import base64
import quopri
import random
from email.utils import format_datetime
import datetime
import os

FIRST = ["Anna", "Marc", "Julie", "Thomas", "Sophie", "Lukas", "Claire", "Pierre",
         "Nadia", "Hugo", "Elena", "Karim", "Laura", "Jonas", "Camille", "Paul",
         "Ines", "Felix", "Chloe", "David", "Sarah", "Yann", "Lea", "Martin"]
LAST = ["Martin", "Dubois", "Schmidt", "Bernard", "Muller", "Petit", "Weber",
        "Moreau", "Fischer", "Laurent", "Roux", "Becker", "Fontaine", "Wagner",
        "Girard", "Klein", "Lefevre", "Hoffmann", "Garnier", "Braun"]
OFFICE = "atelier-lumen.example"
PARTNERS = ["papeterie-durand.example", "kanzlei-weber.example", "imprimerie-roux.example",
            "comptable-fidu.example", "cafe-services.example", "webhost-alpine.example",
            "bureau-supply.example", "transports-girard.example", "it-conseil.example",
            "architectes-moreau.example", "cleaning-pro.example", "telecom-nord.example"]
NEWS = ["newsletter.design-weekly.example", "news.chambre-commerce.example",
        "mail.opensource-digest.example", "lettre.urbanisme-info.example"]
SPAM_DOMAINS = ["secure-verify-account.example", "pharma-direct24.example",
                "winners-intl.example", "crypto-gains.example", "seo-rank-pro.example",
                "lovely-singles.example", "parcel-track-notice.example",
                "mailbox-admin-support.example", "invoice-center.example",
                "bank-alerts-online.example", "mega-deals.example", "promo-mailer.example"]
PROJECTS = ["Maison Vernier", "Ecole Jules Ferry", "Bibliotheque municipale", "Loft Rivoli",
            "Clinique du Parc", "Hotel Bellevue", "Residence Les Tilleuls", "Bureaux Kessler"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
ITEMS = ["printer paper A4 (10 reams)", "toner cartridges", "office chairs",
         "coffee beans 5 kg", "monthly hosting", "plotter maintenance", "accounting services",
         "cleaning services", "phone and internet", "courier deliveries", "software licences",
         "drawing tubes", "archive boxes"]


def person(rng, domain=OFFICE):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    return f"{f} {l}", f"{f.lower()}.{l.lower()}@{domain}"


def money(rng, lo=40, hi=4000):
    return f"{rng.uniform(lo, hi):,.2f}".replace(",", " ")


def para(rng, sentences):
    return " ".join(rng.sample(sentences, k=min(len(sentences), rng.randint(2, 4))))


# ---- ham ---------------------------------------------------------------

COMMON_HAM = [
    "Let me know if you have any questions.",
    "Thanks for your help on this.",
    "I will be out of the office on Friday afternoon.",
    "Please find the details below.",
    "Could you confirm by the end of the week?",
    "I have attached the updated version to the shared folder.",
    "We can discuss it at the next team meeting.",
    "Happy to have a quick call if that is easier.",
]


def ham_meeting(rng):
    name, _ = person(rng)
    day = rng.choice(DAYS)
    proj = rng.choice(PROJECTS)
    subj = rng.choice([f"Meeting {day} about {proj}", f"Agenda for {day}'s site review",
                       f"Re: {proj} - planning meeting", f"Moving our {day} meeting"])
    body = (f"Hi all,\n\nThe {proj} meeting is on {day} at {rng.randint(9, 16)}:{rng.choice(['00', '30'])} "
            f"in the {rng.choice(['large', 'small', 'upstairs'])} meeting room.\n\nAgenda:\n"
            f"- status of the {rng.choice(['drawings', 'permit application', 'budget', 'schedule'])}\n"
            f"- feedback from the client on the {rng.choice(['facade', 'floor plans', 'lighting', 'materials'])}\n"
            f"- next steps and who does what\n\n{para(rng, COMMON_HAM)}\n\n{name.split()[0]}\n")
    return subj, body


def ham_invoice(rng):
    dom = rng.choice(PARTNERS)
    n = rng.randint(1000, 99999)
    item = rng.choice(ITEMS)
    amount = money(rng)
    subj = rng.choice([f"Invoice {n} - {item}", f"Facture n° {n}", f"Your invoice {n} from {dom.split('.')[0]}",
                       f"Rechnung {n}"])
    body = (f"Hello,\n\nPlease find our invoice {n} for {item}, amount EUR {amount}, "
            f"payable within 30 days by bank transfer to our usual account.\n"
            f"Order reference: {rng.choice(['PO', 'BC', 'AU'])}-{rng.randint(100, 999)}.\n"
            + (f"This is a reminder: invoice {n - rng.randint(1, 50)} is overdue, please arrange payment to avoid a late fee.\n"
               if rng.random() < 0.3 else "Payment received for the previous invoice, thank you.\n")
            + f"The PDF is attached to this message. Click here to download it from our customer portal if it is missing.\n\n"
            f"Best regards,\nAccounts department\n{dom}\n")
    return subj, body, dom


def ham_project(rng):
    proj = rng.choice(PROJECTS)
    name, _ = person(rng)
    subj = rng.choice([f"Re: {proj} drawings", f"{proj}: revised floor plan", f"Re: Re: {proj} - client comments",
                       f"{proj} site visit notes"])
    lines = [f"I went through the revised plans for {proj} this morning.",
             "The structural engineer wants the beam on level 2 moved by 30 cm.",
             "The client asked for a cheaper option for the windows.",
             "I updated the schedule: the permit should be filed before the end of the month.",
             "The contractor sent new prices for the insulation.",
             "Can you check the dimensions of the staircase on sheet A-12?",
             "The lighting study is in the project folder."]
    body = f"Hi,\n\n{para(rng, lines)}\n\n{para(rng, COMMON_HAM)}\n\n{name.split()[0]}\n"
    if rng.random() < 0.5:
        body += f"\n> On {rng.choice(DAYS)}, {person(rng)[0]} wrote:\n> {rng.choice(lines)}\n"
    return subj, body


def ham_hr(rng):
    subj = rng.choice(["Holiday planning for the summer", "Payslips for this month",
                       "New colleague starting on Monday", "Reminder: timesheets due Friday",
                       "Training day on fire safety", "Updated expense policy"])
    lines = ["Please enter your holiday requests in the shared calendar before the 15th.",
             "Payslips are available in the HR portal; your password has not changed.",
             "Please welcome our new colleague, who joins the design team.",
             "Remember to submit your timesheets and expense reports by Friday.",
             "Travel expenses are reimbursed with the next salary payment.",
             "The office will be closed on the public holiday."]
    body = f"Dear all,\n\n{para(rng, lines)}\n\nThank you,\n{person(rng)[0]}\nOffice manager\n"
    return subj, body


def ham_it(rng):
    subj = rng.choice(["Scheduled maintenance of the mail server", "Your mailbox is almost full",
                       "Password change reminder", "New Wi-Fi password for guests",
                       "Backup test this weekend", "Printer on the first floor fixed"])
    lines = ["The mail server will be restarted on Saturday at 8:00 for updates; it takes ten minutes.",
             "Your mailbox uses 90% of its quota; please archive or delete old messages with attachments.",
             "Please change your password in the office settings page when you are next in the office; never send it by mail.",
             "The guest Wi-Fi password is on the board in the kitchen.",
             "We test restoring the backup on Sunday; the file server may be slow.",
             "If something does not work on Monday, tell me at the desk or call extension 214.",
             "Please verify that your account works with the new login page after the update.",
             "We detected unusual activity on an old account and disabled it; nothing to do for you."]
    body = f"Hello,\n\n{para(rng, lines)}\n\nYann (IT)\n"
    return subj, body


def ham_newsletter(rng):
    dom = rng.choice(NEWS)
    subj = rng.choice(["This week in design", "Newsletter: events and workshops",
                       "Open source digest #%d" % rng.randint(10, 300), "La lettre de l'urbanisme",
                       "Members' update: new regulations"])
    lines = ["A new report on timber construction was published this week.",
             "Registration for the spring workshop on energy regulations is open.",
             "The chamber of commerce hosts a networking breakfast next month.",
             "A new release of the drawing software fixes printing of large plans.",
             "Read the interview with the architects of the new library.",
             "Limited places: book your seat for the conference on urban housing.",
             "Special offer for members: 30% discount on the annual subscription, click here.",
             "Free registration for the webinar, no credit card needed.",
             "Win a free ticket to the trade fair: answer our short survey."]
    body = (f"{para(rng, lines)}\n\n{para(rng, lines)}\n\nYou receive this newsletter because you subscribed "
            f"with your office address. Unsubscribe or change your preferences on our website.\n")
    return subj, body, dom


def ham_personal(rng):
    if rng.random() < 0.25:
        return (rng.choice(["Re: documents", "the file", "Fwd: link", "Quick question"]),
                f"Here is the link to the file: https://cloud.{OFFICE}/s/{rng.randint(1000, 9999)}\n")
    subj = rng.choice(["Lunch today?", "Birthday card for Claire", "Car pool tomorrow",
                       "Thanks!", "Photos from the office party", "Keys"])
    lines = ["Shall we try the new Italian place at 12:30?",
             "We are collecting for a birthday present, the envelope is on my desk.",
             "I can drive tomorrow, leaving at 8 from the station.",
             "Thanks a lot for the help with the move, really appreciated.",
             "I put the photos from Friday in the shared folder.",
             "I left the keys of the archive room with reception."]
    body = f"{para(rng, lines)}\n\n{person(rng)[0].split()[0]}\n"
    return subj, body


def ham_french(rng):
    proj = rng.choice(PROJECTS)
    subj = rng.choice([f"Réunion de chantier {proj}", "Compte rendu de la réunion", f"Devis pour {proj}",
                       "Congés d'été"])
    lines = ["Voici le compte rendu de la réunion de chantier de mardi.",
             "Le devis de l'entreprise de menuiserie est arrivé, il est un peu plus élevé que prévu.",
             "Merci de confirmer votre présence à la réunion de jeudi.",
             "La facture sera réglée par virement à trente jours.",
             "Les plans révisés sont dans le dossier partagé du projet.",
             "Pouvez-vous vérifier les métrés avant l'envoi au client ?"]
    body = f"Bonjour,\n\n{para(rng, lines)}\n\nCordialement,\n{person(rng)[0]}\n"
    return subj, body


def ham_german(rng):
    subj = rng.choice(["Besprechung am Donnerstag", "Rechnung und Lieferschein", "Protokoll der Baubesprechung",
                       "Urlaubsplanung"])
    lines = ["Anbei das Protokoll der Baubesprechung vom Dienstag.",
             "Die Rechnung ist innerhalb von 30 Tagen ohne Abzug zahlbar.",
             "Bitte bestätigen Sie den Termin am Donnerstag um 10 Uhr.",
             "Die überarbeiteten Pläne liegen im Projektordner.",
             "Können Sie die Maße der Treppe noch einmal prüfen?"]
    body = f"Guten Tag,\n\n{para(rng, lines)}\n\nMit freundlichen Grüßen\n{person(rng)[0]}\n"
    return subj, body


def ham_notices(rng):
    """Genuine notices that read like phishing: the office's bank, courier
    and hosting provider."""
    kind = rng.randint(0, 2)
    if kind == 0:
        return (rng.choice(["Your monthly statement is available", "New sign-in to your business account"]),
                "Dear customer,\n\nYour account statement for last month is available in your online banking. "
                "If you did not sign in from a new device, call your branch; we never ask for your password by mail.\n\n"
                "Banque Populaire du Nord - business banking\n", "banque-nord.example")
    if kind == 1:
        return (rng.choice(["Your parcel is on its way", "Delivery scheduled for tomorrow"]),
                f"Hello,\n\nYour parcel from {rng.choice(PARTNERS)} will be delivered tomorrow between 9:00 and 12:00. "
                f"Tracking number: {rng.randint(10**9, 10**10)}. If nobody is at the office, the courier leaves it at reception.\n\n"
                "Transports Girard\n", "transports-girard.example")
    return (rng.choice(["Your hosting renewal", "Storage quota of your hosting plan"]),
            "Hello,\n\nYour hosting plan renews next month; the invoice will be sent by email. "
            "Your storage is at 85% of its quota: you can upgrade the plan in your customer account.\n\n"
            "Webhost Alpine support\n", "webhost-alpine.example")


HAM = [(ham_notices, 2), (ham_meeting, 5), (ham_invoice, 4), (ham_project, 5), (ham_hr, 3), (ham_it, 3),
       (ham_newsletter, 3), (ham_personal, 3), (ham_french, 2), (ham_german, 2)]

# ---- spam --------------------------------------------------------------


def spam_pharma(rng):
    subj = rng.choice(["Cheap meds without prescription", "Your pharmacy order: 80% off",
                       "V1agra and C1alis at discount prices", "Lose 10 kg in 2 weeks"])
    lines = ["Order the best pills online without prescription.",
             "Discreet delivery worldwide, payment by card or crypto.",
             "Lowest prices guaranteed, generic meds from licensed pharmacy.",
             "Satisfaction guaranteed or your money back.",
             "Click here to order now and get free shipping."]
    return subj, para(rng, lines) + "\n"


def spam_lottery(rng):
    amt = f"{rng.randint(1, 9)},{rng.randint(100, 999)},000.00"
    subj = rng.choice(["Congratulations, you have won!", "Final notice: claim your prize",
                       "Your email address won the international lottery", "Winning notification"])
    lines = [f"Your email address has been selected as winner of USD {amt}.",
             "To claim your prize, send your full name, address and phone number.",
             "Contact our claims agent immediately with your reference number.",
             "This notice is confidential; the payment will be released by bank transfer.",
             "A processing fee applies before the funds are transferred to your account."]
    return subj, f"Dear winner,\n\n{para(rng, lines)}\n\nMr. {person(rng)[0]}\nClaims department\n"


def spam_phish_bank(rng):
    subj = rng.choice(["Important: your account has been suspended", "Unusual sign-in activity",
                       "Action required: verify your identity", "Votre compte a été bloqué"])
    lines = ["We detected unusual activity on your account and temporarily limited access.",
             "Please verify your identity within 24 hours to avoid permanent suspension.",
             "Click the secure link below and confirm your password and card details.",
             "If you do not confirm, your account will be closed.",
             "Veuillez confirmer vos informations en cliquant sur le lien ci-dessous."]
    return subj, f"Dear customer,\n\n{para(rng, lines)}\n\nhttp://{rng.choice(SPAM_DOMAINS)}/verify\n\nSecurity team\n"


def spam_parcel(rng):
    subj = rng.choice(["Your parcel could not be delivered", "Delivery failed: pay the customs fee",
                       "Package on hold - action required", "Ihr Paket wartet auf Zustellung"])
    lines = ["We tried to deliver your parcel but nobody was at home.",
             f"A customs fee of EUR {rng.randint(1, 3)}.{rng.randint(10, 99)} must be paid before delivery.",
             "Schedule a new delivery and pay the fee by card on our page.",
             "Your package will be returned to the sender if you do not act within 48 hours.",
             "Tracking number: %s" % rng.randint(10**9, 10**10)]
    return subj, f"Hello,\n\n{para(rng, lines)}\n\nhttp://{rng.choice(SPAM_DOMAINS)}/track\n"


def spam_quota(rng):
    subj = rng.choice(["Your mailbox is almost full", "Mailbox quota exceeded", "Email account verification",
                       "Password expires today"])
    lines = ["Your mailbox has exceeded its storage quota and incoming messages are on hold.",
             "Click here to upgrade your mailbox and restore delivery of your messages.",
             "Your password expires today; confirm your password to keep using your email.",
             "Failure to verify will result in deactivation of your email account.",
             "Log in on the validation page with your email address and current password."]
    return subj, f"Dear user,\n\n{para(rng, lines)}\n\nhttp://{rng.choice(SPAM_DOMAINS)}/webmail\n\nIT helpdesk\n"


def spam_crypto(rng):
    subj = rng.choice(["Turn 250 EUR into 10,000 with bitcoin", "The crypto secret banks hide",
                       "Guaranteed daily profit trading platform", "Exclusive investment opportunity"])
    lines = ["Our trading robot made investors rich in weeks.",
             "Start with only 250 EUR and watch your profit grow every day.",
             "Guaranteed returns, withdraw anytime, no experience needed.",
             "Celebrities are using this platform, join before it closes.",
             "Register now, our account manager will call you."]
    return subj, para(rng, lines) + "\n"


def spam_seo(rng):
    subj = rng.choice(["First page of Google for your website", "Proposal for your website",
                       "Increase your website traffic", "Website redesign offer"])
    lines = ["I noticed your website is not ranking on the first page of search results.",
             "We can bring your website to the top with our SEO services.",
             "Our team offers affordable website design and marketing packages.",
             "Reply with your phone number and we will send you a free proposal.",
             "We have worked with hundreds of businesses like yours."]
    return subj, f"Hello,\n\n{para(rng, lines)}\n\nBest regards,\n{person(rng)[0]}\nSEO manager\n"


def spam_dating(rng):
    subj = rng.choice(["Someone wants to meet you", "I saw your profile", "Lonely tonight?",
                       "You have 3 new messages from singles"])
    lines = ["Hi dear, I saw your profile and I would like to know you better.",
             "Beautiful singles near you are waiting to chat.",
             "Send me a message on this site, I posted my photos there.",
             "Meet tonight, free registration, no credit card needed."]
    return subj, para(rng, lines) + "\n"


def spam_invoice(rng):
    n = rng.randint(1000, 99999)
    subj = rng.choice([f"Invoice {n} overdue", f"Unpaid invoice {n} - final reminder", f"Payment request {n}",
                       f"Facture impayée {n}"])
    lines = [f"Your invoice {n} of EUR {money(rng)} is overdue.",
             "Please pay immediately to avoid legal proceedings and additional fees.",
             "Open the attached document to view the invoice and payment details.",
             "Our bank details have changed, please use the new account below for this payment.",
             "Click here to download your invoice."]
    return subj, f"Dear customer,\n\n{para(rng, lines)}\n\nAccounts department\n"


def spam_short(rng):
    subj = rng.choice(["Hi", "Re: documents", "see attached", "Fwd: the file you asked for", "Quick question"])
    lines = ["Please see the document here:", "Here is the file we discussed:", "Have a look and tell me:",
             "Open this when you can:"]
    return subj, f"{rng.choice(lines)} http://{rng.choice(SPAM_DOMAINS)}/d/{rng.randint(1000, 9999)}\n"


def spam_bec(rng):
    """A supplier's invoice mail copied by a fraudster, with new bank
    details."""
    subj, body, _ = ham_invoice(rng)
    body = body.replace("by bank transfer to our usual account",
                        "by bank transfer to our NEW account (our bank details have changed, please update them)")
    return subj, body + "\nPlease confirm the payment today by replying to this email.\n"


SPAM = [(spam_bec, 2), (spam_short, 1), (spam_pharma, 2), (spam_lottery, 2), (spam_phish_bank, 3), (spam_parcel, 2), (spam_quota, 3),
        (spam_crypto, 2), (spam_seo, 2), (spam_dating, 2), (spam_invoice, 3)]


# ---- formatting --------------------------------------------------------

def html_of(text, rng, spam):
    paras = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>\n" for p in text.split("\n\n") if p.strip())
    style = ('<table width="600" style="font-family:Arial"><tr><td>' if spam or rng.random() < 0.5
             else '<div style="font-family:Arial">')
    end = "</td></tr></table>" if style.startswith("<table") else "</div>"
    extra = ""
    if spam and rng.random() < 0.6:
        extra = f'<p><a href="http://{rng.choice(SPAM_DOMAINS)}/go">Click here</a></p>\n'
    return f"<html><body>{style}\n{paras}{extra}{end}</body></html>\n"


def encode(text, rng):
    """The body as (transfer encoding, encoded text)."""
    r = rng.random()
    data = text.replace("\n", "\r\n").encode("utf-8")
    if r < 0.2:
        return "base64", base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    if r < 0.45 or any(ord(c) > 127 for c in text):
        return "quoted-printable", quopri.encodestring(data).decode("ascii").replace("\r\n", "\n").replace("\n", "\r\n")
    return "7bit", text.replace("\n", "\r\n")


def message(rng, spam, i, when):
    gen = rng.choices([g for g, _ in (SPAM if spam else HAM)], [w for _, w in (SPAM if spam else HAM)])[0]
    out = gen(rng)
    subj, body = out[0], out[1]
    if spam and rng.random() < 0.35:
        # Words of ordinary mail added to get past filters.
        filler = rng.choice([COMMON_HAM, ["The meeting is on Tuesday in the large room.",
                             "The client asked about the floor plans and the schedule.",
                             "Thanks for the drawings, see you at the site visit."]])
        body += "\n\n" + para(rng, filler) + "\n"
    if spam and rng.random() < 0.1:
        # Sent from a hijacked account of a partner.
        name, addr = person(rng, rng.choice(PARTNERS))
        dom = addr.split("@")[1]
    elif spam:
        dom = rng.choice(SPAM_DOMAINS)
        # Some spam forges partner-like or plausible senders.
        if rng.random() < 0.2:
            dom = rng.choice(["gmail-mail.example", "outlook-mail.example", "bankgroup.example"])
        name, addr = person(rng, dom)
    else:
        dom = out[2] if len(out) > 2 else (OFFICE if rng.random() < 0.6 else rng.choice(PARTNERS))
        name, addr = person(rng, dom)
    to_name, to_addr = person(rng)
    headers = [
        f"Return-Path: <{addr}>",
        f"Received: from mail.{dom} (mail.{dom} [192.0.2.{rng.randint(1, 254)}])\r\n\tby mx.{OFFICE} with ESMTPS; {format_datetime(when)}",
        f"From: {name} <{addr}>",
        f"To: {to_name} <{to_addr}>",
        f"Subject: {subj}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{i}.{rng.randint(10**8, 10**9)}@{dom}>",
        "MIME-Version: 1.0",
    ]
    multipart = rng.random() < (0.6 if spam else 0.3)
    if multipart:
        b = f"=_part_{rng.randint(10**6, 10**7)}"
        headers.append(f'Content-Type: multipart/alternative; boundary="{b}"')
        parts = []
        for ctype, text in (("text/plain", body), ("text/html", html_of(body, rng, spam))):
            cte, enc = encode(text, rng)
            parts.append(f"--{b}\r\nContent-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{enc}")
        content = "\r\n".join(parts) + f"\r\n--{b}--\r\n"
    else:
        cte, enc = encode(body, rng)
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append(f"Content-Transfer-Encoding: {cte}")
        content = enc
    # Non-ASCII subjects go as RFC 2047 encoded words.
    headers = [h if not h.startswith("Subject: ") or subj.isascii() else
               "Subject: =?utf-8?b?" + base64.b64encode(subj.encode()).decode() + "?=" for h in headers]
    return ("\r\n".join(headers) + "\r\n\r\n" + content).encode("utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/corpus")
    ap.add_argument("--ham", type=int, default=300)
    ap.add_argument("--spam", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    start = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=datetime.timezone.utc)
    for label, count in (("ham", a.ham), ("spam", a.spam)):
        d = os.path.join(a.out, label)
        os.makedirs(d, exist_ok=True)
        for i in range(count):
            when = start + datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 300))
            with open(os.path.join(d, f"{i:05}.eml"), "wb") as f:
                f.write(message(rng, label == "spam", i, when))


if __name__ == "__main__":
    main()
