#!/bin/sh
# deb post-install: serial ports belong to the "dialout" group; remind the admin once.
echo "TDS Provisioning Station installed. Users who flash boards must be in the 'dialout' group:"
echo "  sudo usermod -aG dialout <user>   (then log out and in again)"
exit 0
