"""The rule catalog: one module per coding rule, each with its id, reasoning, example and citation."""

from __future__ import annotations

from . import (
    ic101_category,
    ic102_not_coded_purpose,
    ic103_not_in_family,
    ic104_route_without_code,
    ic105_mixed_bag,
    ic106_same_substance,
    ic201_push_or_infusion,
    ic202_missing_stop_time,
    ic203_hour_units,
    ic204_hydration_time,
    ic205_prolonged_pump,
    ic206_injection,
    ic207_subcutaneous_infusion,
    ic208_intra_arterial,
    ic209_chemo_other_route,
    ic210_port_irrigation,
    ic211_midnight_dating,
    ic301_facility_hierarchy,
    ic302_primary_reason,
    ic303_second_access,
    ic304_initial_scope,
    ic401_sequential_infusion,
    ic402_concurrent_infusion,
    ic403_additional_push,
    ic404_repeat_push,
    ic405_hydration_not_concurrent,
    ic406_same_drug_time,
    ic407_bolus_then_infusion,
    ic408_overlap_once,
    ic501_physician_in_facility,
    ic502_addon_needs_primary,
    ic503_em_with_administration,
    ic504_record_hygiene,
)
from .base import Rule

CATALOG: tuple[Rule, ...] = tuple(
    module.RULE
    for module in (
        ic101_category,
        ic102_not_coded_purpose,
        ic103_not_in_family,
        ic104_route_without_code,
        ic105_mixed_bag,
        ic106_same_substance,
        ic201_push_or_infusion,
        ic202_missing_stop_time,
        ic203_hour_units,
        ic204_hydration_time,
        ic205_prolonged_pump,
        ic206_injection,
        ic207_subcutaneous_infusion,
        ic208_intra_arterial,
        ic209_chemo_other_route,
        ic210_port_irrigation,
        ic211_midnight_dating,
        ic301_facility_hierarchy,
        ic302_primary_reason,
        ic303_second_access,
        ic304_initial_scope,
        ic401_sequential_infusion,
        ic402_concurrent_infusion,
        ic403_additional_push,
        ic404_repeat_push,
        ic405_hydration_not_concurrent,
        ic406_same_drug_time,
        ic407_bolus_then_infusion,
        ic408_overlap_once,
        ic501_physician_in_facility,
        ic502_addon_needs_primary,
        ic503_em_with_administration,
        ic504_record_hygiene,
    )
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in CATALOG}

__all__ = ["BY_ID", "CATALOG", "Rule"]
