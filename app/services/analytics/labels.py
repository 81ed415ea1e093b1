"""The keys the reports group by and their labels (catalogue msgids, translated where shown).

Root causes are the VDA 8D categories the 8D report's D4 asks for (``forms/eight_d_report.json``,
field ``d4_root_cause_category``). A stock count's outcome maps onto them
(:data:`STOCK_COUNT_CAUSES`): books and stock agree with each other but not with the customer
→ the customer's information was inaccurate → *no trouble found*; neither agrees → *logistics /
warehouse*; the count agrees with the customer → a real quality problem, whose cause the
responsible department's 8D names (no category from the count itself).
"""

from __future__ import annotations

from app.i18n import N_

ROOT_CAUSES: dict[str, str] = {
    "design": N_("Design"),
    "production": N_("Production process"),
    "material": N_("Material / supplier"),
    "detection": N_("Detection / inspection"),
    "logistics": N_("Logistics / warehouse"),
    "customer_use": N_("Customer use"),
    "no_trouble_found": N_("No trouble found"),
    "not_determined": N_("Cause not determined"),
}

#: stock-count outcome (``stock_count.bpmn``) → root-cause category (None: the 8D decides)
STOCK_COUNT_CAUSES: dict[str, str | None] = {
    "quality_problem": None,
    "customer_info_inaccurate": "no_trouble_found",
    "warehouse_problem": "logistics",
}

#: the ``stage`` properties of the production diagrams
STAGES: dict[str, str] = {
    "核实": N_("Verification of the feedback"),
    "分析": N_("Preliminary analysis"),
    "盘点": N_("Stock count"),
    "补发": N_("Shipment"),
    "8D": N_("8D report"),
    "执行": N_("Execution of corrective actions"),
    "验证": N_("Verification of measures"),
    "关闭": N_("Reply and closure"),
    "考核": N_("Assessment"),
}
#: the whole case, received → closed (a row of the cycle-time chart)
WHOLE_CASE = "case"
WHOLE_CASE_LABEL = N_("Whole case (received to closed)")

#: open-case age buckets: (key, label, lower bound in days exclusive, upper bound inclusive; None: open)
AGE_BUCKETS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("0-3", N_("up to 3 days"), None, 3),
    ("4-7", N_("4 to 7 days"), 3, 7),
    ("8-14", N_("8 to 14 days"), 7, 14),
    ("15-30", N_("15 to 30 days"), 14, 30),
    ("31+", N_("more than 30 days"), 30, None),
)

SATISFACTION_LEVELS: dict[int, str] = {
    5: N_("Very satisfied"),
    4: N_("Satisfied"),
    3: N_("Neutral"),
    2: N_("Dissatisfied"),
    1: N_("Very dissatisfied"),
}

CHARGES: dict[str, str] = {
    "measures": N_("8D measures (48 h)"),
    "execution": N_("Execution of corrective actions"),
}
CLOCKS: dict[str, str] = {
    "first_answer": N_("Customer: first answer"),
    "resolution": N_("Customer: resolution"),
}
COSTS: dict[str, str] = {
    "measure_penalty": N_("Penalty for late measures"),
    "execution_penalty": N_("Penalty for late execution"),
    "logistics_cost": N_("Logistics cost"),
}
NONE_KEY = "-"
NONE_LABEL = N_("(not given)")

#: each metric's title (msgid), in the dashboard's and the report's order
METRIC_TITLES: dict[str, str] = {
    "volumes": N_("Feedback volume over time"),
    "pareto_causes": N_("Pareto of root causes"),
    "pareto_models": N_("Pareto of product models"),
    "cycle_times": N_("Cycle times (hours)"),
    "on_time": N_("On-time rate by department (%)"),
    "ageing": N_("Open cases by age and overdue tasks now"),
    "satisfaction": N_("Customer satisfaction"),
    "costs": N_("Penalties and logistics costs by department (yuan)"),
    "repeat_rate": N_("Repeat rate"),
}
