"""KPIs from conversation events, CSAT surveys, dashboards, exports and reports (docs/kpis.md)."""
