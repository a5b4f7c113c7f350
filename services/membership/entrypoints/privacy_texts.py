"""The privacy page's words, in Norwegian (bokmål) and English: every key in both (a test
checks). Field errors are keyed `error_<field>`."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "nb": {
        "switch": "English",
        "privacy": "Personvern",
        "ask_intro": (
            "Skriv e-postadressen du er registrert med. Er du medlem, sender vi deg en lenke "
            "til siden der du kan se, laste ned, rette og slette dataene dine."
        ),
        "send_link": "Send meg lenken",
        "link_sent": (
            "Hvis adressen tilhører et medlem, har vi sendt en lenke til den. Lenken virker i "
            "24 timer. Kommer det ingen e-post, sjekk søppelposten eller spør organisasjonen."
        ),
        "your_data": "Dine data",
        "saved": "Endringene er lagret.",
        "contact": "Kontaktopplysninger og medlemskap",
        "name": "Navn",
        "email": "E-post",
        "phone": "Mobil",
        "language": "Språk",
        "status": "Status",
        "registered": "Registrert",
        "period_end": "Betalt til og med",
        "answers": "Svar i innmeldingsskjemaet",
        "purpose": "Formål",
        "legal_basis": "Rettslig grunnlag",
        "guardian": "Foresatt",
        "consents": "Samtykker",
        "consented_to": "Du har samtykket til",
        "no_consents": "Du har ingen samtykker nå.",
        "when": "Tidspunkt",
        "source": "Kilde",
        "granted": "gitt",
        "withdrawn": "trukket tilbake",
        "logins": "Innlogginger (de siste 10)",
        "no_logins": "Ingen registrerte innlogginger.",
        "device": "Enhet",
        "ip": "IP-adresse",
        "place": "Sted",
        "edit": "Rett opplysningene",
        "save": "Lagre",
        "download": "Last ned dataene mine",
        "download_intro": (
            "Du får en e-post med en lenke til en kryptert fil (ZIP) med alt vi har om deg. "
            "Passordet vises her, én gang."
        ),
        "delete": "Slett meg",
        "delete_intro": (
            "Vi sletter alt vi har om deg, unntatt det loven krever at vi tar vare på "
            "(betalingsopplysninger i regnskapet), som gjøres anonymt."
        ),
        "delete_confirm_title": "Vil du virkelig slettes?",
        "delete_confirm": (
            "Medlemskapet ditt og alle dataene dine slettes for godt. Dette kan ikke angres, "
            "og lenken til denne siden slutter å virke."
        ),
        "delete_yes": "Ja, slett meg",
        "delete_no": "Nei, tilbake",
        "download_filed": "Forespørselen om innsyn er registrert",
        "download_message": (
            "Du får snart en e-post med en lenke for å laste ned filen. Lenken virker én gang."
        ),
        "erasure_filed": "Forespørselen om sletting er registrert",
        "erasure_message": (
            "Vi sletter dataene dine nå. Du får beskjed når det er gjort, senest innen fristen."
        ),
        "request_id": "Forespørsel",
        "status_received": "mottatt",
        "status_identity_verified": "identiteten er bekreftet",
        "status_in_progress": "under arbeid",
        "status_completed": "fullført",
        "due_date": "Frist",
        "password": "Passordet til filen",
        "password_note": (
            "Skriv det ned nå: det vises bare denne ene gangen og sendes aldri på e-post. "
            "Du trenger det for å åpne filen (7-Zip, WinZip eller PeaZip)."
        ),
        "back": "Tilbake til dataene dine",
        "already_title": "Du har allerede bedt om dette",
        "already": (
            "Vi holder allerede på med en slik forespørsel fra deg (forespørsel {request_id}). "
            "Du får beskjed på e-post når den er ferdig. Passordet til en nedlasting ble vist da "
            "du ba om den."
        ),
        "invalid_title": "Lenken er ugyldig",
        "invalid": "Denne lenken er ikke gyldig. Be om en ny lenke på organisasjonens side.",
        "expired_title": "Lenken har utløpt",
        "expired": "Lenken virker i 24 timer. Be om en ny lenke på organisasjonens side.",
        "gone_title": "Ikke lenger tilgjengelig",
        "gone": "Denne siden er ikke lenger tilgjengelig. Dataene er slettet.",
        "no_org_title": "Fant ikke siden",
        "no_org": "Denne organisasjonen finnes ikke.",
        "forbidden_title": "Skjemaet kan ikke brukes",
        "forbidden": "Skjemaet kom ikke fra denne siden. Åpne lenken på nytt og prøv igjen.",
        "bad_request_title": "Ugyldig forespørsel",
        "bad_request": "Forespørselen ble ikke forstått.",
        "unavailable_title": "Prøv igjen om litt",
        "unavailable": "Tjenesten svarer ikke akkurat nå. Ingenting er endret.",
        "error_name": "Skriv navnet ditt (høyst 200 tegn).",
        "error_email": "Ugyldig e-postadresse.",
        "error_phone": "Ugyldig mobilnummer, f.eks. +47 912 34 567.",
        "error_taken": "Et annet medlem har allerede denne e-postadressen.",
    },
    "en": {
        "switch": "Norsk",
        "privacy": "Privacy",
        "ask_intro": (
            "Enter the email address you are registered with. If you are a member, we send "
            "you a link to the page where you can see, download, correct and delete your data."
        ),
        "send_link": "Send me the link",
        "link_sent": (
            "If the address belongs to a member, we have sent a link to it. The link works for "
            "24 hours. If no email arrives, check your spam folder or ask the organisation."
        ),
        "your_data": "Your data",
        "saved": "Your changes are saved.",
        "contact": "Contact details and membership",
        "name": "Name",
        "email": "Email",
        "phone": "Mobile",
        "language": "Language",
        "status": "Status",
        "registered": "Registered",
        "period_end": "Paid up to and including",
        "answers": "Answers in the registration form",
        "purpose": "Purpose",
        "legal_basis": "Legal basis",
        "guardian": "Guardian",
        "consents": "Consents",
        "consented_to": "You have consented to",
        "no_consents": "You have no consents now.",
        "when": "When",
        "source": "Source",
        "granted": "granted",
        "withdrawn": "withdrawn",
        "logins": "Logins (the last 10)",
        "no_logins": "No logins recorded.",
        "device": "Device",
        "ip": "IP address",
        "place": "Place",
        "edit": "Correct your details",
        "save": "Save",
        "download": "Download my data",
        "download_intro": (
            "You get an email with a link to an encrypted file (ZIP) of everything we hold "
            "about you. The password is shown here, once."
        ),
        "delete": "Delete me",
        "delete_intro": (
            "We delete everything we hold about you, except what the law requires us to keep "
            "(payment records in the accounts), which is made anonymous."
        ),
        "delete_confirm_title": "Do you really want to be deleted?",
        "delete_confirm": (
            "Your membership and all your data are deleted for good. This cannot be undone, "
            "and the link to this page stops working."
        ),
        "delete_yes": "Yes, delete me",
        "delete_no": "No, go back",
        "download_filed": "Your access request is registered",
        "download_message": (
            "You will soon get an email with a link to download the file. The link works once."
        ),
        "erasure_filed": "Your erasure request is registered",
        "erasure_message": (
            "We are deleting your data now. You will be told when it is done, at the latest by "
            "the due date."
        ),
        "request_id": "Request",
        "status_received": "received",
        "status_identity_verified": "identity verified",
        "status_in_progress": "in progress",
        "status_completed": "completed",
        "due_date": "Due date",
        "password": "The file's password",
        "password_note": (
            "Write it down now: it is shown only this once and never sent by email. You need "
            "it to open the file (7-Zip, WinZip or PeaZip)."
        ),
        "back": "Back to your data",
        "already_title": "You have asked for this already",
        "already": (
            "We are already handling such a request from you (request {request_id}). You will "
            "be told by email when it is done. A download's password was shown when you asked "
            "for it."
        ),
        "invalid_title": "Invalid link",
        "invalid": "This link is not valid. Ask for a new link on the organisation's page.",
        "expired_title": "The link has expired",
        "expired": "The link works for 24 hours. Ask for a new link on the organisation's page.",
        "gone_title": "No longer available",
        "gone": "This page is no longer available. The data has been deleted.",
        "no_org_title": "Page not found",
        "no_org": "This organisation does not exist.",
        "forbidden_title": "The form cannot be used",
        "forbidden": "The form did not come from this page. Open the link again and retry.",
        "bad_request_title": "Invalid request",
        "bad_request": "The request was not understood.",
        "unavailable_title": "Try again in a moment",
        "unavailable": "The service is not answering just now. Nothing was changed.",
        "error_name": "Enter your name (at most 200 characters).",
        "error_email": "Not a valid email address.",
        "error_phone": "Not a valid mobile number, e.g. +47 912 34 567.",
        "error_taken": "Another member already has this email address.",
    },
}
