"""The use cases under the flows: workspace, intake, scoring, labels, training windows,
promotion, review, alerts, reporting. Plain functions and classes: no Prefect."""
