"""What one lost kWh is worth at a given local time: the site's flat price, a time-of-use window's, or the export
rate.

The rule (docs/alerts.md, "What a fault costs"): with net metering (no ``export_price_per_kwh``) every solar kWh
offsets a kWh bought at the price of that moment, so lost energy is worth the time-of-use window's price, or
``price_per_kwh`` outside the windows. Without net metering a lost kWh would partly have been used at home (worth
the import price) and partly exported (worth the export price); the readings do not say how much the home used
at that moment, so all lost energy is valued at the export price: the lower, safe figure.
"""

from __future__ import annotations

from datetime import datetime

from pvs6_cloud.infra.config import SiteConfig, Tariff

__all__ = ["price_at", "site_price_at"]

_WEEKDAYS = {"all": range(7), "weekday": range(5), "weekend": (5, 6)}


def price_at(tariff: Tariff, flat_price: float, local: datetime) -> float:
    """The worth of a kWh lost at site-local time ``local`` [currency/kWh].

    A window whose end is before its start runs past midnight; its days are those it starts on.
    """
    if tariff.export_price_per_kwh is not None:
        return tariff.export_price_per_kwh
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    for window in tariff.windows:
        if window.start_min < window.end_min:
            inside = window.start_min <= minute < window.end_min and day in _WEEKDAYS[window.days]
        else:  # past midnight: the evening part on its own day, the morning part on the next
            inside = ((minute >= window.start_min and day in _WEEKDAYS[window.days])
                      or (minute < window.end_min and (day - 1) % 7 in _WEEKDAYS[window.days]))
        if inside:
            return window.price
    return flat_price


def site_price_at(site: SiteConfig, at: datetime) -> float:
    """`price_at` for a site, at an aware time in any zone."""
    return price_at(site.tariff, site.price_per_kwh, at.astimezone(site.tz))
