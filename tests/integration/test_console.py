"""The console in a real browser: Debian's Chromium, headless, driven by selenium through
the system's chromedriver, against two real workers fed a simulated gang through the
broker. Screenshots are kept in `.local/test-artifacts/console/`."""

import asyncio
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from duanka.detector.core.engine import Engine
from duanka.detector.core.policy import Policy
from duanka.replay.replayer import Replayer
from duanka.schemas.cases import Case
from duanka.simulator.scenario import Scenario, ScenarioConfig, SimulatedMessage
from tests.integration.conftest import (
    Kafka,
    RunningWorker,
    module_workers,
)
from tests.integration.test_worker import burst, produce

pytestmark = pytest.mark.integration

TOKEN = "console-test-token-0123456789"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(".local/test-artifacts/console")
WAIT_S = 90


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningWorker]]:
    """Two workers of one group: whichever the browser asks, some answers come from the
    other (the case linker has one partition)."""
    yield from module_workers(tmp_path_factory, ["console-a", "console-b"], DUANKA_API_TOKEN=TOKEN)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed: deploy/local/tools.sh installs it (make test)")
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager: no statistics, no downloads
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def gang() -> list[SimulatedMessage]:
    """A workshop gang and its mule ring, as the simulator injects them, ten days ago."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    config = ScenarioConfig(seed=32, start=start, seconds_per_event=1.0, dispositions=False)
    return Scenario(config).workshop_gang(start)


def replayed(messages: list[SimulatedMessage]) -> Case:
    """The gang's case, as `duanka replay` makes it."""
    replayer = Replayer(Engine(Policy()))
    for number, message in enumerate(messages, 1):
        replayer.replay_line(orjson.dumps(message.as_replay_line()), number)
    [case] = replayer.linker.records(datetime.now(UTC))
    return case


def api(worker: RunningWorker, path: str, cookie: str | None = None) -> tuple[int, bytes, dict]:
    """GET with the bearer token (or a session cookie): status, body and headers."""
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}")
    if cookie is None:
        request.add_header("Authorization", f"Bearer {TOKEN}")
    else:
        request.add_header("Cookie", f"duanka_session={cookie}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


async def linked(worker: RunningWorker, expected: Case) -> Case:
    """The worker's record of the case once it holds every alert replay's does."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        status, body, _ = await asyncio.to_thread(api, worker, f"/cases/{expected.case_id}")
        if status == 200:
            case = Case.model_validate_json(body)
            if case.alert_count == expected.alert_count:
                return case
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"case {expected.case_id} not linked: {status} {body[:300]!r}")
        await asyncio.sleep(1)


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait(driver: WebDriver, what: str, condition: object, within: float = 30) -> object:
    try:
        # a condition may read an element of a page the browser is replacing (a form
        # posted): it is asked again, as if the element were not there yet
        ignored = (NoSuchElementException, StaleElementReferenceException)
        waiting = WebDriverWait(driver, within, ignored_exceptions=ignored)
        return waiting.until(condition)  # type: ignore[arg-type]
    except TimeoutException:
        shot(driver, f"timeout-{what}")
        pytest.fail(f"the page never showed {what}")


def errors(driver: WebDriver) -> list[dict[str, object]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def fetch(driver: WebDriver, path: str) -> dict[str, object]:
    """GET `path` from inside the page, with its cookies: status and text."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
          .then(async (r) => done({status: r.status, text: await r.text(),
                                   disposition: r.headers.get("Content-Disposition")}));
    """
    result = driver.execute_async_script(script, path)
    assert isinstance(result, dict)
    return result


def members(case: Case) -> set[str]:
    kinds = {
        "identities": "identity",
        "msisdns": "msisdn",
        "accounts": "account",
        "devices": "device",
        "outlets": "outlet",
        "companies": "company",
    }
    return {f"{kind}:{id}" for field, kind in kinds.items() for id in getattr(case.members, field)}


async def test_an_analyst_works_a_gang_in_the_console(
    kafka: Kafka, workers: list[RunningWorker], browser: WebDriver
) -> None:
    messages = gang()
    expected = replayed(messages)
    assert expected.alert_count >= 8 and sum(expected.member_counts.model_dump().values()) >= 20
    worker = workers[0]
    for message in messages:
        await kafka.send(worker.topic(message.topic), message.encoded_value(), key=message.key)
    case = await linked(worker, expected)
    assert case.status == "open" and members(case) == members(expected)
    base = f"http://127.0.0.1:{workers[1].port}"
    driver = browser

    # Logged out, the console sends the browser to its login form.
    driver.get(f"{base}/console/")
    token = wait(driver, "the login form", lambda d: d.find_element(By.NAME, "token"))
    assert isinstance(token, WebElement) and token.get_attribute("type") == "password"
    shot(driver, "01-login")
    token.send_keys("not-the-token")
    driver.find_element(By.ID, "login").click()
    wait(
        driver, "the refusal", lambda d: "not the API token" in d.find_element(By.ID, "error").text
    )
    [refused] = errors(driver)  # the browser logs the refusal's 401, and nothing else
    assert "/console/login" in str(refused["message"]) and "401" in str(refused["message"])
    driver.find_element(By.NAME, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "login").click()
    assert TOKEN not in driver.current_url

    # The case is listed.
    row = wait(
        driver,
        "the case listed",
        lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-case-id="{case.case_id}"]'),
    )
    assert isinstance(row, WebElement)
    assert case.summary in row.text and "open" in row.text
    shot(driver, "02-cases")

    # A new case appears while the analyst reads the list; the rows already there stay.
    driver.execute_script("arguments[0].dataset.kept = 'yes'", row)
    await produce(kafka, worker, burst("console-card-seller", 5))
    wait(
        driver,
        "the new case listed",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-case-id]")) == 2,
        within=WAIT_S,
    )
    kept = driver.find_element(By.CSS_SELECTOR, f'tr[data-case-id="{case.case_id}"]')
    assert kept.get_attribute("data-kept") == "yes"

    # Its page: every entity in the graph, every alert on the timeline.
    row.find_element(By.TAG_NAME, "a").click()
    wait(
        driver, "the case page", lambda d: d.current_url.endswith(f"/console/cases/{case.case_id}")
    )
    wanted = members(case)
    drawn = wait(
        driver,
        "every entity",
        lambda d: (
            found
            if (
                found := {
                    e.get_attribute("data-entity")
                    for e in d.find_elements(By.CSS_SELECTOR, "svg#graph [data-entity]")
                }
            )
            >= wanted
            else None
        ),
    )
    assert drawn == wanted
    alerts = {
        e.get_attribute("data-alert-id")
        for e in driver.find_elements(By.CSS_SELECTOR, "#timeline [data-alert-id]")
    }
    assert alerts == set(case.alerts)
    assert len(driver.find_elements(By.TAG_NAME, "svg")) == 1
    paid = driver.find_elements(By.CSS_SELECTOR, "svg#graph path.edge.paid")
    assert paid, "the money from the collector to the relay is drawn"
    shot(driver, "03-case")

    # The graph is laid out once: a poll that changes nothing keeps every node.
    driver.execute_script("document.querySelector('svg#graph [data-entity]').dataset.kept = 'yes'")
    await asyncio.sleep(9)  # two polls
    kept = driver.find_elements(By.CSS_SELECTOR, "svg#graph [data-kept='yes']")
    assert len(kept) == 1

    # An entity, reached by keyboard: its state from the query API.
    account = sorted(m for m in wanted if m.startswith("account:"))[0]
    node = driver.find_element(By.CSS_SELECTOR, f'svg#graph [data-entity="{account}"]')
    assert node.get_attribute("tabindex") == "0"
    driver.execute_script("arguments[0].focus()", node)
    node.send_keys(Keys.ENTER)
    wait(driver, "the entity's state", lambda d: "Windows" in d.find_element(By.ID, "entity").text)
    assert account.split(":", 1)[1] in driver.find_element(By.ID, "entity").text
    shot(driver, "04-entity")
    assert errors(driver) == []

    # A decision: the case's status follows; a second one is refused as on the topic.
    alert_id = case.alerts[0]
    item = driver.find_element(By.CSS_SELECTOR, f'#timeline [data-alert-id="{alert_id}"]')
    Select(item.find_element(By.NAME, "outcome")).select_by_value("confirmed")
    item.find_element(By.NAME, "note").send_keys("called the card seller; confirmed")
    item.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver, "the decision recorded", lambda d: "Recorded as afc" in item.text)
    wait(
        driver,
        "the case confirmed",
        lambda d: d.find_element(By.ID, "case-status").text == "confirmed",
        within=WAIT_S,
    )
    wait(
        driver,
        "the decision listed",
        lambda d: (
            "confirmed by afc"
            in d.find_element(By.CSS_SELECTOR, f'#timeline [data-alert-id="{alert_id}"]').text
        ),
    )
    item = driver.find_element(By.CSS_SELECTOR, f'#timeline [data-alert-id="{alert_id}"]')
    item.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(
        driver,
        "the repeat refused",
        lambda d: "already" in item.find_element(By.CSS_SELECTOR, ".answer").text,
    )
    [repeat] = errors(driver)  # the refusal's 409
    assert "/dispositions" in str(repeat["message"]) and "409" in str(repeat["message"])
    shot(driver, "05-decided")

    # Exports for a police file.
    as_json = fetch(driver, f"/console/cases/{case.case_id}/export.json")
    assert as_json["status"] == 200
    assert "attachment" in str(as_json["disposition"])
    exported = orjson.loads(str(as_json["text"]))
    assert {a["alert_id"] for a in exported["alerts"]} == set(case.alerts)
    assert exported["case"]["status"] == "confirmed"
    as_csv = fetch(driver, f"/console/cases/{case.case_id}/export.csv")
    lines = str(as_csv["text"]).strip().splitlines()
    assert len(lines) == 1 + case.alert_count
    assert any(alert_id in line and "afc:confirmed" in line for line in lines)

    # Search finds the case by a number of the gang.
    number = sorted(m for m in wanted if m.startswith("msisdn:"))[0].split(":", 1)[1]
    driver.get(f"{base}/console/")
    search = wait(driver, "the search box", lambda d: d.find_element(By.ID, "q"))
    assert isinstance(search, WebElement)
    search.send_keys(number, Keys.ENTER)
    wait(driver, "the case found", lambda d: d.current_url.endswith(case.case_id))

    # A narrow window still reads.
    driver.set_window_size(420, 900)
    shot(driver, "06-narrow")
    driver.set_window_size(1280, 800)
    assert errors(driver) == []

    # Logging out ends the session: the JSON and the exports answer 401.
    driver.find_element(By.ID, "logout").click()
    wait(driver, "the login form again", lambda d: d.find_element(By.NAME, "token"))
    assert fetch(driver, "/console/api/cases")["status"] == 401
    assert fetch(driver, f"/console/cases/{case.case_id}/export.csv")["status"] == 401
    assert driver.get_cookie("duanka_session") is None
    shot(driver, "07-logged-out")


async def test_every_worker_answers_the_same_and_nothing_without_a_session(
    workers: list[RunningWorker],
) -> None:
    """The console's JSON from either worker, forwarded to the one holding the linker; and
    401 for every route but the login page without a session."""
    for worker in workers:
        status, _, headers = api(worker, "/console/api/cases", cookie="forged.0.0")
        assert status == 401
        for path in (
            "/console/static/case.js",
            "/console/api/search?q=x",
            "/console/cases/0/export.json",
            "/console/api/entities/msisdn/x",
        ):
            assert api(worker, path, cookie="")[0] == 401, path
        status, _, headers = api(worker, "/console/cases/abc", cookie="")
        assert status == 303 or status == 200  # urllib follows the redirect to the login
    cookies = []
    for worker in workers:
        request = urllib.request.Request(
            f"http://127.0.0.1:{worker.port}/console/login",
            data=f"token={TOKEN}&next=/console/".encode(),
            method="POST",
        )
        opener = urllib.request.build_opener(NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        assert answer.value.code == 303
        set_cookie = answer.value.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert "Max-Age=" in set_cookie and TOKEN not in set_cookie
        cookies.append(set_cookie.split(";")[0].split("=", 1)[1])
    answers = []
    for worker, cookie in zip(workers, cookies[::-1], strict=True):  # each the other's session
        status, body, headers = api(worker, "/console/api/cases?status=", cookie=cookie)
        assert status == 200, body
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        listed = orjson.loads(body)
        answers.append([{**c, "updated_at": None} for c in listed["cases"]])
    assert answers[0] == answers[1] and answers[0]
    for worker in workers:
        assert TOKEN not in worker.log.read_text(errors="replace")


async def test_changes_from_another_site_are_refused(workers: list[RunningWorker]) -> None:
    worker, evil = workers[1], "http://evil.example"
    login = post(worker, "/console/login", f"token={TOKEN}".encode(), {"Origin": evil})
    assert login[0] == 403
    status, _, headers = post(worker, "/console/login", f"token={TOKEN}".encode(), {})
    assert status == 303 and "Secure" not in headers["Set-Cookie"]
    cookie = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    behind_tls = {"X-Forwarded-Proto": "https"}
    _, _, proxied = post(worker, "/console/login", f"token={TOKEN}".encode(), behind_tls)
    assert "Secure" in proxied["Set-Cookie"]
    _, page, _ = api(worker, "/console/", cookie=cookie)
    csrf = re.search(rb'name="duanka-csrf" content="([0-9a-f]{64})"', page)
    assert csrf is not None
    path = f"/console/api/alerts/{'f' * 32}/dispositions"
    decision = orjson.dumps({"outcome": "confirmed"})
    session = {"Cookie": f"duanka_session={cookie}"}
    assert post(worker, path, decision, session)[0] == 403  # no CSRF value
    with_csrf = {**session, "X-Duanka-CSRF": csrf.group(1).decode()}
    assert post(worker, path, decision, {**with_csrf, "Origin": evil})[0] == 403
    assert post(worker, path, decision, {**with_csrf, "Sec-Fetch-Site": "cross-site"})[0] == 403
    status, body, _ = post(worker, path, decision, with_csrf)  # the linker's refusal
    assert (status, orjson.loads(body)["reason"]) == (404, "unknown_alert")
    status, body, _ = post(worker, path, orjson.dumps({"outcome": "maybe"}), with_csrf)
    assert status == 400 and "outcome" in orjson.loads(body)["error"]
    forged = cookie[:-1] + ("1" if cookie.endswith("0") else "0")
    other = {**with_csrf, "Cookie": f"duanka_session={forged}"}
    assert post(worker, path, decision, other)[0] == 401


BIG_CASE = (Path(__file__).parent / "console_big_case.js").read_text()
"""Replaces the case API's answer, in the browser, by a case of 200 entities and 309 edges,
and notes when it was served and when every entity was drawn."""


async def test_a_case_of_200_entities_is_drawn_once(
    workers: list[RunningWorker], browser: WebDriver
) -> None:
    """The case page's own script, given a case of 200 entities and 309 edges (the answer
    of its API replaced in the browser): how long drawing takes, and no redraw on a poll."""
    driver, base = browser, f"http://127.0.0.1:{workers[0].port}"
    driver.get_log("browser")  # what the tests before logged
    driver.get(f"{base}/console/login")
    driver.find_element(By.NAME, "token").send_keys(TOKEN, Keys.ENTER)
    wait(driver, "the cases page", lambda d: d.find_element(By.ID, "cases"))
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BIG_CASE})
    try:
        driver.get(f"{base}/console/cases/{'b' * 32}")
        wait(driver, "the drawing", lambda d: d.execute_script("return window.drawn"))
        took = driver.execute_script("return window.drawn - window.served")
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg#graph [data-entity]")) == 200
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg#graph path.edge")) == 309
        print(f"a case of 200 entities and 309 edges drawn in {took:.0f} ms")
        driver.execute_script("document.querySelector('svg#graph [data-entity]').dataset.kept = 1")
        await asyncio.sleep(9)  # two polls
        assert driver.find_elements(By.CSS_SELECTOR, "svg#graph [data-kept='1']")
        shot(driver, "08-200-entities")
        assert errors(driver) == []
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)


MERGED = """
const real = window.fetch;
window.fetch = async (url, options) => String(url).endsWith("/console/api/cases/" + "a".repeat(32))
  ? new Response(JSON.stringify({case: {case_id: "a".repeat(32), status: "merged",
      merged_into: "c".repeat(32)}}), {status: 200, headers: {"Content-Type": "application/json"}})
  : real(url, options);
"""
"""Answers, in the browser, that case aaa… was merged into case ccc…."""


async def test_a_merged_case_sends_the_browser_to_the_case_it_joined(
    workers: list[RunningWorker], browser: WebDriver
) -> None:
    driver, base = browser, f"http://127.0.0.1:{workers[0].port}"
    driver.get(f"{base}/console/login")
    if driver.find_elements(By.NAME, "token"):
        driver.find_element(By.NAME, "token").send_keys(TOKEN, Keys.ENTER)
        wait(driver, "the cases page", lambda d: d.find_element(By.ID, "cases"))
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MERGED})
    try:
        driver.get(f"{base}/console/cases/{'a' * 32}")
        wait(driver, "the joined case", lambda d: d.current_url.endswith("c" * 32))
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)


def post(
    worker: RunningWorker, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """POST without following redirects: status, body and headers."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}{path}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.build_opener(NoRedirect()).open(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
