"""The dashboard in a real headless browser (Debian's Chromium, driven by Playwright).

Marked ``browser``: the suite leaves these out where /usr/bin/chromium is missing (see
conftest); .ci/run installs Chromium so CI runs them.
"""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from diary.models import Alert
from tests.diary.conftest import daily, entry
from tests.factories import BotulinumSessionFactory, InjectionSiteFactory, PatientFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
LAPTOP = {"width": 1366, "height": 900}
TABLET = {"width": 768, "height": 1024}


@pytest.fixture
def chromium(monkeypatch, live_server) -> Iterator:
    """A headless Chromium; Playwright's sync API runs an event loop, so let the ORM run beside it.

    It depends on ``live_server`` so that it closes first: no request of the page reaches a server
    (or a database) that is already gone.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            # Beside Playwright's event loop the ORM holds connections of its own: close them, or
            # PostgreSQL cannot drop the test database at the end of the run.
            connections.close_all()
            browser.close()


@pytest.fixture
def clinic_day(record):
    """A clinician, and a patient with eight weeks of diary, an injection and a red flag yesterday."""
    clinician = StaffFactory(username="dr-browser", role="clinician")
    patient = PatientFactory(clinic=clinician.clinic, given_name="Robin", family_name="Hale")
    today = timezone.localdate()
    session = BotulinumSessionFactory(patient=patient, injected_on=today - timedelta(days=30))
    InjectionSiteFactory(session=session)
    yesterday = today - timedelta(days=1)
    record(
        patient,
        [
            *daily(today - timedelta(days=56), today - timedelta(days=2), 5, spasms=3, triggers=["cold"]),
            entry(f"{yesterday}T08:00:00-05:00", 8, red_flags=["fever"]),
        ],
    )
    return clinician, patient


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/dashboard/")


def test_sign_in_open_a_patient_see_the_chart_and_acknowledge_the_alert(chromium, live_server, clinic_day):
    clinician, patient = clinic_day
    page = chromium.new_page(viewport=LAPTOP)

    sign_in(page, live_server.url, clinician.username)
    assert page.get_by_role("heading", name="Patients needing attention").is_visible()
    page.get_by_role("link", name="Hale, Robin").click()

    page.get_by_role("heading", name="Hale, Robin").wait_for()
    chart = page.locator('img[data-chart="severity"]')
    chart.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
    assert chart.evaluate("img => img.naturalWidth") > 300
    assert page.get_by_text("Red flag: Fever").is_visible()

    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text(f"Acknowledged by {clinician.get_full_name() or clinician.username} at ").wait_for()

    page.wait_for_load_state("networkidle")
    page.close()
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.RED_FLAG)
    assert (alert.status, alert.acknowledged_by_id) == ("acknowledged", clinician.pk)


@pytest.mark.parametrize("viewport", [LAPTOP, TABLET], ids=["laptop", "tablet"])
def test_the_patient_page_fits_the_screen_without_sideways_scrolling(chromium, live_server, clinic_day, viewport):
    clinician, patient = clinic_day
    page = chromium.new_page(viewport=viewport)
    sign_in(page, live_server.url, clinician.username)

    page.goto(f"{live_server.url}/dashboard/patients/{patient.pk}/")
    page.wait_for_load_state("networkidle")

    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    chart_box = page.locator('img[data-chart="severity"]').bounding_box()
    assert chart_box is not None
    assert chart_box["width"] <= viewport["width"]
    assert page.get_by_role("button", name="Acknowledge").bounding_box()["height"] >= 44  # a finger's target
    page.close()
