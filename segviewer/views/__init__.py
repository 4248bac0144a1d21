"""segviewer.views"""
