"""number-prediction's API: the `getNumberPrediction` Lambda handler and the predictor it serves with."""
