"""The cost line of a production alert, in the words a homeowner reads ("about 1.6 kWh a day, worth about $0.48")."""

from __future__ import annotations

from pvs6_cloud.alerting.loss import FaultCost, Loss, kwh_words, money
from pvs6_cloud.infra.config import SiteConfig

__all__ = ["cost_words", "month_cost_sentences", "resolved_cost_words"]

NEGLIGIBLE_KWH = 0.05  # less than this lost is not worth a sentence [kWh]


def _currency(value: float, site: SiteConfig) -> str:
    """"$21.55": an amount of money in the site's currency."""
    return f"{site.currency}{value:,.2f}"


def cost_words(loss: Loss | None, site: SiteConfig, *, reminder: bool) -> str:
    """What an open alert costs: its rate per day and, in a reminder, the total so far ("" for other kinds)."""
    if loss is None:
        return ""
    mean = loss.mean_price(site.price_per_kwh)
    price = f"{site.currency}{mean:.2f} per kWh"
    if not site.tariff.flat:
        price = (f"{price} (your export rate)" if site.tariff.export_price_per_kwh is not None
                 else f"an average of {price} (your time-of-use prices)")
    so_far = ""
    if reminder and loss.lost_kwh >= NEGLIGIBLE_KWH:
        so_far = (f" Lost so far: about {kwh_words(loss.lost_kwh)} "
                  f"({_currency(loss.worth(site.price_per_kwh), site)}).")
    if loss.per_day_kwh is None:
        return ("What it costs: not measurable yet; the monitor needs one full day of readings to know what a "
                "normal day makes." + so_far)
    rough = " (a rough figure for now)" if loss.rough else ""
    return (f"What it costs: about {kwh_words(loss.per_day_kwh)} a day, worth about "
            f"{money(loss.per_day_kwh, mean, site.currency)} a day at {price}{rough}."
            + so_far)


def resolved_cost_words(loss: Loss | None, site: SiteConfig) -> str:
    """"While it was open it cost about 4.1 kWh ($1.23). " for a resolved note, or "" (ends with a space)."""
    if loss is None or loss.lost_kwh < NEGLIGIBLE_KWH:
        return ""
    return (f"While it was open it cost about {kwh_words(loss.lost_kwh)} "
            f"({_currency(loss.worth(site.price_per_kwh), site)}). ")


def month_cost_sentences(cost: FaultCost | None, month_name: str, site: SiteConfig) -> list[str]:
    """The summary's sentences on what faults cost in the month (and the last 12 months, once known)."""
    if cost is None:
        return []

    def worth(kwh: float, value: float | None) -> str:
        return f"about {kwh_words(kwh)} ({_currency(kwh * site.price_per_kwh if value is None else value, site)})"

    if cost.array_down:
        down = "; your panels are still down"
    elif cost.panels_down:
        down = f"; {cost.panels_down} panel{'s are' if cost.panels_down > 1 else ' is'} still down"
    else:
        down = "; everything is producing again"
    if cost.month_kwh >= 0.5:
        out = [f"Faults cost you {worth(cost.month_kwh, cost.month_value)} in {month_name}{down}."]
    elif cost.unmeasured:
        out = ["A fault is open, but what it costs is not measurable yet (the monitor needs a full day of "
               "readings)" + down + "."]
    elif cost.month_kwh > 0:
        out = [f"Faults cost you next to nothing in {month_name} (under 1 kWh){down}."]
    elif cost.panels_down or cost.array_down:
        out = [f"No fault cost you any solar energy in {month_name}, but one is open now{down}."]
    else:
        out = [f"No fault cost you any solar energy in {month_name}."]
    if cost.year_kwh is not None:
        year = worth(cost.year_kwh, cost.year_value)
        out.append(f"Over the last 12 months faults cost you {year}." if cost.year_kwh >= 0.5
                   else "Over the last 12 months no fault cost you anything worth counting.")
    return out
