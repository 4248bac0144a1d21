"""segviewer.evaluation"""
